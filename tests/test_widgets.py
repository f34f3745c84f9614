"""The Jupyter layer (vmkit_widgets), driven from Python only: construct each widget, press its
buttons through their handlers (`Button.click()`), and read the model state a browser would show
(Textarea.value, HTML.value, a Bokeh ColumnDataSource's data).

Skips when ipywidgets / bokeh / jupyter_bokeh are missing, but fails when VMKIT_REQUIRE_TOOLS=1.
"""

import asyncio
import importlib
import os
import subprocess
import sys

import pytest

REQUIRE_TOOLS = os.environ.get("VMKIT_REQUIRE_TOOLS") == "1"

if sys.platform == "emscripten":
    pytest.skip("the Jupyter layer (ipywidgets, Bokeh) is not part of the Pyodide core suite",
                allow_module_level=True)


def _need_module(name):
    """Import `name`; skip this module when missing (fail in CI, as conftest.need_tool does)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        message = f"{name} is not installed (pip install -e '.[lab]')"
        if REQUIRE_TOOLS:
            pytest.fail(message + " and VMKIT_REQUIRE_TOOLS=1", pytrace=False)
        pytest.skip(message, allow_module_level=True)


for _module in ("ipywidgets", "bokeh", "jupyter_bokeh"):
    _need_module(_module)

from vmkit_widgets import (
    Controls,
    CpuView,
    ProgressBar,
    Runner,
    SourceView,
    TechniqueComparison,
    TranslationView,
    VmConsole,
    VmPanel,
)

from vmkit import guest, lab
from vmkit.vmm.costs import CostError, cost_model
from vmkit.vmm.vm import VirtualMachine

BOOT = "tinyos: booting, two tasks\n"      # the first line tinyos.s prints (boot_message)


@pytest.fixture
def loop():
    """A fresh event loop set as current: what `asyncio.get_event_loop()` returns in Jupyter."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def tinyos_vm(engine="native", console=None, iterations=2):
    program = guest.build("tinyos", iterations=iterations, pv=(engine == "pv"))
    return program, VirtualMachine(program, engine=engine, console=console)


# -- console ---------------------------------------------------------------------------------
def test_console_shows_tinyos_output_as_it_arrives(loop):
    console = VmConsole()
    _, vm = tinyos_vm(console=console.write)
    seen = []
    runner = Runner(vm, chunk=2_000, on_chunk=lambda r: seen.append(console.text.value))
    stop = loop.run_until_complete(runner.start(loop))
    assert stop.reason == "shutdown"
    # Output arrived chunk by chunk: some chunk saw the boot line but not yet the rest.
    assert any(text.startswith(BOOT) and text != seen[-1] for text in seen)
    assert all(seen[i + 1].startswith(seen[i]) for i in range(len(seen) - 1))
    # Everything the guest's UART sent, and nothing else.
    assert console.text.value == bytes(vm.console).decode()
    assert "task A: i=0" in console.text.value


def test_console_joins_a_utf8_character_split_across_writes():
    console = VmConsole()
    console.write(b"caf\xc3")                 # U+00E9 is C3 A9 in UTF-8
    console.write(b"\xa9\n")
    assert console.text.value == "caf\u00e9\n"
    console.clear()
    assert console.text.value == ""


# -- CPU view and controls ---------------------------------------------------------------------
def test_cpu_view_shows_privilege_and_v_per_technique():
    # native: the kernel really is in HS-mode; hw: in VS-mode (V=1); trap: deprivileged to
    # real U-mode while its virtual privilege, kept by the VMM, is S; emulate: the software
    # vCPU (a hart without V) is itself in S-mode, which PRIV_NAMES calls HS.
    expected = {"native": ("HS", 0, "S"), "hw": ("VS", 1, "S"), "trap": ("U", 0, "S"),
                "emulate": ("HS", 0, "S")}
    for engine, (mode, v, priv) in expected.items():
        program, vm = tinyos_vm(engine)
        state = CpuView(vm).state()
        assert state["pc"] == program.entry == 0x8000_0000, engine
        assert (state["mode"], state["v"], state["guest_priv"]) == (mode, v, priv), engine


def test_step_button_runs_one_instruction_and_refreshes_the_view():
    program, vm = tinyos_vm("hw")
    view = CpuView(vm)
    controls = Controls(Runner(vm, on_chunk=lambda r: view.refresh()))
    controls.step_button.click()
    controls.step_button.click()
    # `la sp, kernel_stack_top` is auipc + addi: two instructions, then sp holds the symbol.
    state = view.state()
    assert vm.counters.guest_instructions == 2
    assert state["pc"] == program.entry + 8
    assert state["x"]["sp"] == program.symbols["kernel_stack_top"]
    assert f"{program.symbols['kernel_stack_top']:#010x}" in view.html.value
    assert "<code>sp</code>" in view.html.value and "VS" in view.html.value
    # Under hw the guest's sstatus is the hart's vsstatus: the view says where it lives.
    assert state["csrs"]["sstatus (in vsstatus)"] == vm.engine.hart.vsstatus
    assert "hgatp" in state["csrs"]


def test_bt_view_maps_the_translation_cache_back_to_guest_pcs():
    # Stepping the same guest under native (the reference) and bt must show the same guest pc
    # and registers after every step, though bt's hart sits in its translation cache.
    _, native = tinyos_vm("native")
    _, bt = tinyos_vm("bt")
    views = CpuView(native), CpuView(bt)
    runners = Runner(native), Runner(bt)
    translated = 0
    for _ in range(60):
        for runner in runners:
            runner.step()
        a, b = (view.state() for view in views)
        assert (a["pc"], a["x"]) == (b["pc"], b["x"])
        translated += b["tc_pc"] is not None
    assert translated > 0                        # some steps did stop inside the TC


def test_stop_between_chunks_stops_the_run_and_run_resumes_it(loop):
    console = VmConsole()
    _, vm = tinyos_vm(console=console.write)
    chunks = []

    def after_chunk(runner):
        chunks.append(runner.executed)
        controls.update()
        if len(chunks) == 2:
            controls.stop_button.click()          # pressed while the guest runs

    runner = Runner(vm, chunk=1_000, on_chunk=after_chunk)
    controls = Controls(runner)
    controls.run_button.click()                   # schedules the first chunk on the loop
    assert runner.running and not controls.stop_button.disabled
    stop = loop.run_until_complete(runner.done)
    # native runs exactly the budget it is given (no timer due in the first 2000 instructions
    # of tinyos, so no chunk is cut short): two chunks, then the flag was seen.
    assert stop.reason == "budget" and runner.executed == 2_000
    assert not runner.running and vm.stop is None
    assert controls.stop_button.disabled and not controls.run_button.disabled
    assert "2000 instructions" in controls.status.value
    controls.run_button.click()                   # resume to the end
    assert loop.run_until_complete(runner.done).reason == "shutdown"
    assert controls.run_button.disabled and controls.step_button.disabled
    assert "shutdown" in controls.status.value and console.text.value.startswith(BOOT)
    assert runner.step().reason == "shutdown"     # a finished guest does not step


def test_runner_rejects_a_bad_chunk():
    _, vm = tinyos_vm()
    for chunk in (0, -5, 1.5, "10"):
        with pytest.raises(ValueError, match="chunk must be a positive integer"):
            Runner(vm, chunk=chunk)


# -- source view -------------------------------------------------------------------------------
def test_source_view_highlights_the_current_line():
    program = guest.build("tinyos", iterations=2)
    view = SourceView(program)
    source = guest.source("tinyos").splitlines()
    view.show(program.entry)
    filename, line = view.current
    assert filename == "tinyos.s"
    assert source[line - 1].split() == ["la", "sp,", "kernel_stack_top"]   # _start's first line
    highlighted = view.html.value.split('background:#ffe08a">', 1)[1].split("</div>", 1)[0]
    assert "kernel_stack_top" in highlighted and f"{line:5}" in highlighted
    view.show(0x1234)
    assert view.current is None and "no source line" in view.html.value


def test_panel_follows_the_guest_through_steps():
    panel = VmPanel("tinyos", engine="bt", iterations=2)
    for _ in range(3):
        panel.controls.step_button.click()
    # The third instruction is the auipc of `la t0, tasks`, the source line after `la sp`.
    _, line = panel.source.current
    assert guest.source("tinyos").splitlines()[line - 1].split()[:2] == ["la", "t0,"]
    assert "3 instructions" in panel.controls.status.value


# -- translation-cache view --------------------------------------------------------------------
def test_translation_view_shows_a_guest_block_beside_its_translation():
    program, vm = tinyos_vm("bt")
    view = TranslationView(vm)
    rows = view.show(program.entry)
    guest_pcs = [pc for pc, _, _ in rows if pc is not None]
    assert guest_pcs[0] == program.entry
    assert guest_pcs == sorted(guest_pcs)               # a block is straight-line guest code
    html = view.html.value
    assert f"guest block at {program.entry:#010x}" in html
    assert "auipc" in html                              # `la sp, ...` starts with auipc
    for _, _, host in rows:
        for address, text in host:
            assert vm.engine.in_tc(address) and f"{address:#010x}" in html
    with pytest.raises(ValueError, match="needs engine 'bt'"):
        TranslationView(tinyos_vm("hw")[1])


# -- technique comparison ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def rows():
    return lab.compare("syscall", engines=("trap", "hw"), iterations=5)


def test_comparison_reprices_the_same_rows_when_the_preset_changes(rows):
    counters_before = [dict(r.counters) for r in rows]
    comparison = TechniqueComparison(rows)
    data = comparison.cycles_source.data
    exits = {r.engine: sum(r.counters["exits"].values()) for r in rows}
    modern, p4 = cost_model("modern").constants, cost_model("p4-2006").constants
    # trap: every exit is a trap round trip; hw: a VM exit + entry (costs.py's two prices).
    assert data["exits"] == [exits["trap"] * modern["trap_roundtrip"],
                             exits["hw"] * modern["vm_exit"]]
    comparison.preset.value = "p4-2006"                 # what the dropdown does in a browser
    data = comparison.cycles_source.data
    assert data["exits"] == [exits["trap"] * p4["trap_roundtrip"], exits["hw"] * p4["vm_exit"]]
    assert modern["vm_exit"] != p4["vm_exit"]           # so the hw bar really changed
    assert "p4-2006" in comparison.cycles_figure.title.text
    assert [dict(r.counters) for r in rows] == counters_before    # re-priced, not rerun
    assert data["engine"] == ["trap", "hw"]


def test_comparison_plots_exits_by_reason(rows):
    comparison = TechniqueComparison([r.to_dict() for r in rows])   # dict rows work too
    data = comparison.exits_source.data
    for index, row in enumerate(rows):
        for reason in comparison.reasons:
            assert data[reason][index] == row.counters["exits"].get(reason, 0)
    # syscall under trap: the guest's ecalls exit to the VMM; under hw they go straight to
    # the guest kernel (hedeleg), so hw has no "ecall" exits at all.
    assert data["ecall"][0] > 0 and data["ecall"][1] == 0
    assert type(comparison.widget.children[1]).__name__ == "BokehModel"


def test_comparison_rejects_bad_input(rows):
    with pytest.raises(ValueError, match="nothing to compare"):
        TechniqueComparison([])
    with pytest.raises(ValueError, match="one row per engine"):
        TechniqueComparison([rows[0], rows[0]])
    with pytest.raises(CostError, match="unknown cost model"):
        TechniqueComparison(rows, preset="pentium-pro")


# -- progress bar ------------------------------------------------------------------------------
def test_progress_bar_appears_only_for_long_runs(loop):
    for after_s, shown in ((0.0, True), (3600.0, False)):
        _, vm = tinyos_vm()
        runner = Runner(vm, chunk=5_000)
        bar = ProgressBar(runner, after_s=after_s)
        runner.on_chunk = lambda r, bar=bar: bar.update()
        loop.run_until_complete(runner.start(loop))
        assert bar.visible is shown
        assert bar.bar.value == runner.executed > 0


# -- the core stays free of Jupyter ------------------------------------------------------------
def test_core_never_imports_the_widget_layer():
    code = ("import sys, vmkit, vmkit.lab, vmkit.vmm.engines, vmkit.asm, vmkit.cli\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('vmkit_widgets', 'ipywidgets', 'bokeh', 'jupyter_bokeh', 'IPython')]\n"
            "print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_bokeh_is_imported_only_for_a_comparison():
    """In the browser (Pyodide) importing Bokeh costs seconds: `import vmkit_widgets` (the VM
    panel) must not pay it; TechniqueComparison, the only part drawn with Bokeh, imports it."""
    code = ("import sys, vmkit_widgets\n"
            "before = 'bokeh' in sys.modules\n"
            "from vmkit_widgets import TechniqueComparison\n"
            "print(before, 'bokeh' in sys.modules, TechniqueComparison.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "TechniqueComparison"]
