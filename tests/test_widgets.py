"""The Jupyter layer (vmkit_widgets), driven from Python only: construct each widget, press its
buttons through their handlers (`Button.click()`), and read the model state a browser would show
(Textarea.value, HTML.value, a Bokeh ColumnDataSource's data).

Skips when ipywidgets / bokeh / jupyter_bokeh are missing, but fails when VMKIT_REQUIRE_TOOLS=1.
"""

import asyncio
import importlib
import os
import re
import subprocess
import sys
from html import unescape

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

from vmkit_widgets.memory import MemoryView
from vmkit_widgets.runner import CHUNK, TICK_S

from vmkit import guest, lab
from vmkit.isa import ABI_NAMES
from vmkit.vmm.costs import CostError, cost_model
from vmkit.vmm.vm import VirtualMachine

BOOT = "tinyos: booting, two tasks\n"      # the first line tinyos.s prints (boot_message)


@pytest.fixture(autouse=True)
def _close_widgets():
    """ipywidgets keeps every widget in a registry until it is closed, and a panel holds its
    VM (32 MiB of host RAM each): close them after each test, as a notebook's kernel would."""
    import warnings

    import ipywidgets
    yield
    with warnings.catch_warnings():                   # (Widget.widgets: deprecated, no successor)
        warnings.simplefilter("ignore", DeprecationWarning)
        open_widgets = list(ipywidgets.Widget.widgets.values())
    for widget in open_widgets:
        if type(widget).__name__ != "BokehModel":     # (it closes itself, once, when freed)
            widget.close()


def html_text(html):
    """The text a browser shows for an HTML fragment: tags dropped, entities decoded."""
    return unescape(re.sub(r"<[^>]*>", "", html))


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
    runner = Runner(vm, chunk=2_000, on_chunk=lambda r: seen.append(console.value))
    stop = loop.run_until_complete(runner.start(loop))
    assert stop.reason == "shutdown"
    # Output arrived tick by tick: some tick saw the boot line but not yet the rest.
    assert any(text.startswith(BOOT) and text != seen[-1] for text in seen)
    assert all(seen[i + 1].startswith(seen[i]) for i in range(len(seen) - 1))
    # Everything the guest's UART sent, and nothing else.
    assert console.value == bytes(vm.console).decode()
    assert "task A: i=0" in console.value
    assert html_text(console.html.value) == console.value     # what the browser shows


def test_console_joins_a_utf8_character_split_across_writes():
    console = VmConsole()
    console.write(b"caf\xc3")                 # U+00E9 is C3 A9 in UTF-8
    console.write(b"\xa9\n")
    assert console.value == "caf\u00e9\n"
    console.clear()
    assert console.value == "" and "(guest console)" in console.html.value


def test_console_box_stays_scrolled_to_its_end_in_a_browser():
    """Render the console's HTML in headless Chromium as the widget's front end does
    (innerHTML replaced on every write) and look where the box is scrolled."""
    from conftest import need_tool
    chromium = need_tool("chromium")
    sync_playwright = _need_module("playwright.sync_api").sync_playwright
    console = VmConsole(rows=6)
    geometry = """() => {
        const box = document.querySelector('.vmkit-console').getBoundingClientRect();
        const text = document.querySelector('.vmkit-console pre').getBoundingClientRect();
        const scroller = document.querySelector('.vmkit-console');
        return {overflows: scroller.scrollHeight > scroller.clientHeight + 1,
                top: text.top - box.top, bottom: box.bottom - text.bottom};
    }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 600})
            # JupyterLab's style sheet gives every <pre> a scroll bar of its own.
            page.set_content("<style>pre { overflow: auto; }</style>"
                             "<div id='widget' style='width:600px'></div>")

            def show():
                page.evaluate("html => { document.getElementById('widget').innerHTML = html; }",
                              console.html.value)
                return page.evaluate(geometry)

            console.write(b"tinyos: booting\n")
            short = show()                       # a short text starts at the top of the box
            assert not short["overflows"] and short["top"] < 6 and short["bottom"] > 40
            for n in range(60):                  # grows past the box, a line at a time
                console.write(f"task A: i={n}\n".encode())
                long = show()
            # The end of the text is at the bottom edge of the box: the last line shows.
            assert long["overflows"] and abs(long["bottom"]) < 6 and long["top"] < -200
        finally:
            browser.close()


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
    assert controls.status.value == ("paused after 2,000 instructions; press run to continue "
                                     "or step to run one more")
    controls.run_button.click()                   # resume to the end
    assert loop.run_until_complete(runner.done).reason == "shutdown"
    assert controls.run_button.disabled and controls.step_button.disabled
    assert controls.status.value.startswith("the guest shut down (exit code 0) after ")
    assert console.value.startswith(BOOT)
    assert runner.step().reason == "shutdown"     # a finished guest does not step


def test_stepping_one_instruction_at_a_time_runs_the_guest_as_run_does():
    # A step can end just after a trap is taken (tinyos's first ecall from U-mode, ~450
    # instructions in), with nothing retired: that is a step, not a storm of traps.
    for engine in ("hw", "emulate"):        # the two run loops (engines/base.py, emulate.py)
        _, reference = tinyos_vm(engine)
        assert reference.run().reason == "shutdown"
        _, vm = tinyos_vm(engine)
        runner = Runner(vm)
        while not runner.finished and runner.executed < 100_000:
            runner.step()
        assert vm.stop == reference.stop, engine
        assert vm.console == reference.console and vm.counters.as_dict() == \
            reference.counters.as_dict(), engine


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
    assert panel.controls.status.value.startswith("paused after 3 instructions; ")


def test_status_says_where_the_guest_is_in_words(tmp_path, loop):
    panel = VmPanel("tinyos", engine="hw", iterations=2)
    status = panel.controls.status
    assert status.value == "ready at the first instruction: press step to run one, or run"
    panel.controls.step_button.click()
    assert status.value == ("paused after 1 instruction; press run to continue or step to run "
                            "one more")
    panel.speed.slider.value = 1_000
    panel.controls.run_button.click()
    loop.run_until_complete(asyncio.sleep(0.25))            # two paced ticks, then look
    assert status.value.startswith("running: ") and "press stop to pause" in status.value
    panel.controls.stop_button.click()
    loop.run_until_complete(panel.runner.done)
    assert status.value.startswith("paused after ") and "budget" not in status.value
    panel.speed.slider.value = panel.runner.full_speed
    panel.controls.run_button.click()
    loop.run_until_complete(panel.runner.done)
    assert status.value == f"the guest shut down (exit code 0) after {panel.runner.executed:,} " \
                           f"instructions; reset runs it again"
    # A guest that waits for an interrupt with no timer set; one that reports failure
    # (SBI system reset, reason 1 = failure: exit code 1).
    guests = {"wfi.s": ("_start: wfi\n  j _start\n",
                        "waiting for an interrupt (wfi) after 1 instruction: no timer is set, "
                        "or its interrupt is disabled; only a device (vm.raise_irq, UART input) "
                        "can wake it"),
              "fail.s": ("_start: li a0, 0\n  li a1, 1\n  li a7, 0x53525354\n  li a6, 0\n"
                         "  ecall\n",
                         # li a7 of a 32-bit constant is lui + addi: 6 with the ecall.
                         "the guest shut down (exit code 1) after 6 instructions; reset runs "
                         "it again")}
    for name, (source, expected) in guests.items():
        (tmp_path / name).write_text(source)
        panel = VmPanel(str(tmp_path / name), engine="hw")
        panel.controls.run_button.click()
        loop.run_until_complete(panel.runner.done)
        assert panel.controls.status.value == expected, name
    # The panel's instruction limit.
    panel = VmPanel("tinyos", engine="native", iterations=2, chunk=500, max_instructions=1_000)
    panel.controls.run_button.click()
    loop.run_until_complete(panel.runner.done)
    assert panel.controls.status.value.startswith("paused at the panel's limit of 1,000 ")


@pytest.mark.parametrize("engine", ["native", "emulate", "trap", "bt", "pv", "hw"])
def test_panel_runs_tinyos_under_every_engine(engine, loop):
    panel = VmPanel("tinyos", engine=engine, iterations=2)
    panel.memory.address.value = "sp"
    for _ in range(5):
        panel.controls.step_button.click()
    loop.run_until_complete(panel.runner.start(loop))
    assert panel.console.value == lab.run("tinyos", engine=engine, iterations=2).console
    assert panel.controls.status.value.startswith("the guest shut down (exit code 0) after ")
    assert panel.memory.target == panel.cpu.state()["x"]["sp"] and panel.memory.dump


# -- reset -------------------------------------------------------------------------------------
def ram(vm):
    return vm.read_guest(0x8000_0000, vm.ram_size)


def test_reset_goes_back_to_the_first_instruction_with_the_console_cleared(loop):
    panel = VmPanel("tinyos", engine="hw", iterations=2)
    fresh = VirtualMachine(panel.program, engine="hw")
    initial = (fresh.engine.guest_state(), fresh.counters.as_dict(), ram(fresh))
    loop.run_until_complete(panel.runner.start(loop))           # to the end: RAM and all
    first_console = panel.console.value
    assert panel.runner.finished and first_console.startswith(BOOT)
    assert ram(panel.vm) != initial[2]                           # the guest wrote its memory
    panel.controls.reset_button.click()
    vm = panel.vm
    assert (vm.engine.guest_state(), vm.counters.as_dict(), ram(vm)) == initial
    assert vm.stop is None and vm.console == b"" and panel.console.value == ""
    assert html_text(panel.console.html.value) == "(guest console)"
    assert panel.cpu.state()["pc"] == panel.program.entry and panel.cpu.changed == set()
    assert panel.source.current == panel.program.line_map[panel.program.entry]
    assert not panel.controls.run_button.disabled and not panel.controls.step_button.disabled
    assert panel.controls.status.value.startswith("ready at the first instruction")
    assert panel.progress.bar.value == 0 and not panel.progress.visible
    # The same guest again: the same run, the same output.
    loop.run_until_complete(panel.runner.start(loop))
    assert panel.console.value == first_console


def test_reset_during_a_run_ends_it(loop):
    panel = VmPanel("tinyos", engine="hw", iterations=2)
    panel.speed.slider.value = 100
    done = panel.runner.start(loop)
    loop.run_until_complete(asyncio.sleep(0.25))
    assert panel.runner.running and panel.runner.executed > 0
    old = panel.vm
    panel.controls.reset_button.click()
    assert done.done() and not panel.runner.running
    loop.run_until_complete(asyncio.sleep(0.3))                 # no tick is left scheduled
    assert panel.vm is not old and panel.runner.executed == 0
    assert panel.controls.stop_button.disabled and not panel.controls.run_button.disabled


# -- speed -------------------------------------------------------------------------------------
def test_speed_control_paces_the_run_without_blocking_the_loop(loop):
    panel = VmPanel("tinyos", engine="native", iterations=2)
    runner, slider = panel.runner, panel.speed.slider
    assert [value for _, value in slider.options] == [1, 10, 100, 1_000, CHUNK]
    assert (runner.chunk, runner.tick_s) == (CHUNK, 0)            # full speed by default
    assert panel.speed.label.value == "full speed: 20,000 instructions per tick, no pause"
    slider.value = 10
    assert (runner.chunk, runner.tick_s) == (10, TICK_S)
    assert panel.speed.label.value == "10 instructions per tick, 10 ticks a second"
    ticks = []                                                    # (loop time, instructions)
    runner.on_chunk = lambda r: (ticks.append((loop.time(), r.executed)), panel.update(r))
    other = []                                                    # the rest of the kernel

    async def meanwhile():
        for _ in range(40):
            other.append(runner.executed)
            await asyncio.sleep(0.01)

    runner.start(loop)
    loop.run_until_complete(meanwhile())
    slider.value = 1                                              # during the run
    loop.run_until_complete(asyncio.sleep(0.35))
    runner.stop()
    loop.run_until_complete(runner.done)
    counts = [n for _, n in ticks]
    steps = [b - a for a, b in zip(counts, counts[1:])]
    # native runs exactly its budget (tinyos sets no timer this early): 10 a tick, then 1.
    assert steps[:2] == [10, 10] and steps[-2:] == [1, 0] and set(steps) <= {10, 1, 0}
    # Paced: a pause of TICK_S between ticks (the event loop never fires a timer early)...
    gaps = [b - a for (a, _), (b, _) in zip(ticks, ticks[1:-1])]
    assert min(gaps) >= TICK_S * 0.99
    # ...during which the loop ran other work: it saw the guest between ticks.
    assert len(other) == 40 and len(set(other)) > 1
    with pytest.raises(ValueError, match="instructions per tick must be a positive integer"):
        runner.set_speed(0)


# -- changed registers -------------------------------------------------------------------------
def highlighted(html):
    """The register and CSR names the CPU view's HTML highlights (the CHANGED_STYLE cells)."""
    cell = "<td style='background:#ffe08a;font-weight:bold'><code>"
    return set(re.findall(f"{cell}([^<]+)</code></td>{cell}0x", html))


def test_changed_registers_are_highlighted_after_each_step():
    panel = VmPanel("tinyos", engine="hw", iterations=2)
    engine = panel.vm.engine
    csr_names = list(panel.cpu.state()["csrs"])
    assert highlighted(panel.cpu.html.value) == set()
    seen_csr = seen_none = 0
    for _ in range(500):                          # past the first ecall, at about 450
        before = engine.guest_state()["x"], list(panel.cpu.state()["csrs"].values())
        panel.controls.step_button.click()
        after = engine.guest_state()["x"], list(panel.cpu.state()["csrs"].values())
        expected = {ABI_NAMES[i] for i in range(32) if before[0][i] != after[0][i]}
        csrs = {csr_names[i] for i in range(len(csr_names)) if before[1][i] != after[1][i]}
        assert highlighted(panel.cpu.html.value) == expected | csrs
        seen_csr += bool(csrs)
        seen_none += not (expected | csrs)
    assert seen_csr and seen_none                 # steps that changed a CSR, and no register


def test_changed_registers_after_a_run_slice_stay_highlighted_when_it_ends(loop):
    panel = VmPanel("tinyos", engine="hw", iterations=2)
    panel.speed.slider.value = 1_000
    states = []

    def after_tick(runner):
        states.append(dict(zip(ABI_NAMES, panel.vm.engine.guest_state()["x"])))
        panel.update(runner)
        if len(states) == 3:
            panel.controls.stop_button.click()

    panel.runner.on_chunk = after_tick
    panel.controls.run_button.click()
    loop.run_until_complete(panel.runner.done)
    # The run's last refresh found the same state as the third tick: the highlight is that
    # tick's change, not emptied by the final refresh.
    assert len(states) == 4 and states[3] == states[2]
    expected = {name for name in ABI_NAMES if states[1][name] != states[2][name]}
    assert expected and highlighted(panel.cpu.html.value) - set(panel.cpu.state()["csrs"]) \
        == expected


# -- memory view -------------------------------------------------------------------------------
def dump(view):
    """{address: byte} of every byte the memory view's HTML shows, and the rows it says are
    outside RAM."""
    shown, outside = {}, []
    for line in html_text("<" + view.html.value.split("<pre", 1)[1]).splitlines():
        address, rest = line.split("  ", 1)
        if rest.startswith("(not guest RAM"):
            outside.append(int(address, 16))
            continue
        hex_part = rest.split(" |", 1)[0].split()
        assert len(hex_part) == 16, line
        for i, byte in enumerate(hex_part):
            shown[int(address, 16) + i] = int(byte, 16)
    return shown, outside


def test_memory_view_shows_guest_memory_around_the_typed_address():
    program = guest.build("tinyos", iterations=2)
    panel = VmPanel("tinyos", engine="hw", iterations=2)
    view = panel.memory
    image = {address + i: byte for address, data in program.image()
             for i, byte in enumerate(data)}
    # At the first instruction, around pc: the program's bytes as the assembler laid them
    # out; the rows below guest RAM (it starts at 0x8000_0000) are said to be outside.
    shown, outside = dump(view)
    assert view.target == program.entry
    assert shown and all(image.get(a, 0) == b for a, b in shown.items())
    assert outside == [0x7FFF_FFC0, 0x7FFF_FFD0, 0x7FFF_FFE0, 0x7FFF_FFF0]
    # A symbol: the boot message's text in the ASCII column.
    view.address.value = "boot_message"
    assert view.target == program.symbols["boot_message"]
    assert "|tinyos: booting," in html_text(view.html.value)
    # A register, and a register with an offset, following the guest as it runs.
    view.address.value = "sp-32"
    for _ in range(3):
        panel.controls.step_button.click()
    sp = panel.cpu.state()["x"]["sp"]
    assert sp == program.symbols["kernel_stack_top"] and view.target == sp - 32
    shown, _ = dump(view)
    assert sp - 32 in shown and sp - 32 + 127 - 64 in shown
    for expression, address in (("0x8000_0010", 0x8000_0010), ("x2 + 0x10", sp + 16),
                                ("tasks+8", program.symbols["tasks"] + 8)):
        view.address.value = expression
        assert view.target == address, expression
    # After the run: the bytes shown are what the guest left in its RAM.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(panel.runner.start(loop))
    finally:
        loop.close()
    view.address.value = "tasks"
    shown, _ = dump(view)
    assert all(panel.vm.read_guest(a, 1)[0] == b for a, b in shown.items())
    assert any(image.get(a, 0) != b for a, b in shown.items())    # the guest wrote there
    # Bad input: one line saying what to type, nothing dumped.
    for bad in ("nosuchsymbol", "", "sp*2", "0x"):
        view.address.value = bad
        assert view.dump == [] and "\n" not in html_text(view.html.value), bad
        assert "register" in view.html.value or "type an address" in view.html.value, bad


def test_looking_at_memory_does_not_disturb_the_guest():
    # Two identical guests stepped alike; the memory view looks at one of them after every
    # step, at pc, sp and the UART's registers, whose receive buffer holds a typed byte.
    watched, plain = (VirtualMachine(guest.build("tinyos", iterations=2), engine="hw")
                      for _ in range(2))
    for vm in (watched, plain):
        vm.uart.feed(b"x")
    view = MemoryView(watched)

    def machine(vm):
        hart = vm.engine.cpu
        tlb = hart.mmu.tlb
        return (vm.engine.guest_state(), vm.counters.as_dict(), bytes(vm.console),
                hart.instret, hart.traps,
                {k: repr(v) for k, v in vars(vm.uart).items() if not callable(v)},
                (tlb.hits, tlb.misses, tlb.flushes, tlb.evictions, sorted(tlb._map)))

    for step in range(400):
        for vm in (watched, plain):
            vm.run(1 + step % 7)
        for where in ("pc", "sp", "0x1000_0000", "sp-64"):
            view.address.value = where
            view.refresh()
        assert machine(watched) == machine(plain), step
    assert ram(watched) == ram(plain)
    view.address.value = "0x1000_0000"
    _, outside = dump(view)
    assert 0x1000_0000 in outside                             # not read: said so
    assert watched.uart.lsr & 1                               # LSR.DR: the byte still waits


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


def test_comparison_shows_a_refused_run_as_refused_under_every_preset(monkeypatch):
    """pagefault under an engine without a paging_mode (trap, made to refuse here) stops at
    the guest's satp write: its row is marked paging_refused, so its bar is empty and its
    label says why, whatever the preset; hw's bar is its price."""
    from vmkit.vmm.costs import REFUSED
    from vmkit.vmm.engines import engine_class
    monkeypatch.setattr(engine_class("trap"), "paging_mode", None)
    refused, ran = lab.compare("pagefault", engines=("trap", "hw"), iterations=3)
    comparison = TechniqueComparison([refused, ran])
    for preset in ("modern", "p4-2006"):
        comparison.preset.value = preset
        data = comparison.cycles_source.data
        assert data["engine"] == [f"trap: {REFUSED}", "hw"]
        assert [data[c][0] for c in comparison.categories] == [0] * len(comparison.categories)
        assert sum(data[c][1] for c in comparison.categories) == \
            cost_model(preset).total(ran.counters, vm_exits=True)


def test_comparison_rejects_bad_input(rows):
    with pytest.raises(ValueError, match="nothing to compare"):
        TechniqueComparison([])
    with pytest.raises(ValueError, match="one row per engine"):
        TechniqueComparison([rows[0], rows[0]])
    with pytest.raises(CostError, match="unknown cost model"):
        TechniqueComparison(rows, preset="pentium-pro")


# -- consolidation plot ------------------------------------------------------------------------
def test_utilization_plot_draws_the_measured_rows():
    from vmkit.vmm.consolidation import sweep
    from vmkit_widgets import UtilizationPlot
    rows = sweep((1, 3), engine="trap", periods=3)
    plot = UtilizationPlot(rows)
    data = plot.source.data
    assert data["guests"] == [1, 3]
    assert data["alone"] == [row["alone"]["utilization"] for row in rows]
    assert data["consolidated"] == [row["consolidated"]["utilization"] for row in rows]
    assert data["consolidated"][1] > 2 * data["alone"][1]       # three guests share one host
    assert "trap" in plot.figure.title.text and type(plot.widget).__name__ == "BokehModel"
    with pytest.raises(ValueError, match="nothing to plot"):
        UtilizationPlot([])
    with pytest.raises(ValueError, match="one row per guest count"):
        UtilizationPlot([rows[0], rows[0]])


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
def fresh_python(code):
    """What `code` prints in a new interpreter (whose sys.modules this test run has not filled)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_core_never_imports_the_widget_layer():
    code = ("import sys, vmkit, vmkit.lab, vmkit.vmm.engines, vmkit.asm, vmkit.cli\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('vmkit_widgets', 'ipywidgets', 'bokeh', 'jupyter_bokeh', 'IPython')]\n"
            "print(bad)")
    assert fresh_python(code).strip() == "[]"


def test_bokeh_is_imported_only_for_a_comparison():
    """In the browser (Pyodide) importing Bokeh costs seconds: `import vmkit_widgets` (the VM
    panel) must not pay it; TechniqueComparison, the only part drawn with Bokeh, imports it."""
    code = ("import sys, vmkit_widgets\n"
            "before = 'bokeh' in sys.modules\n"
            "from vmkit_widgets import TechniqueComparison\n"
            "print(before, 'bokeh' in sys.modules, TechniqueComparison.__name__)")
    assert fresh_python(code).split() == ["False", "True", "TechniqueComparison"]
    code = code.replace("TechniqueComparison", "UtilizationPlot")
    assert fresh_python(code).split() == ["False", "True", "UtilizationPlot"]
    code = code.replace("UtilizationPlot", "GroupedBars")
    assert fresh_python(code).split() == ["False", "True", "GroupedBars"]


def test_console_keeps_the_tail_of_a_flood_and_counts_what_it_dropped():
    from vmkit_widgets import console as console_module
    con = console_module.VmConsole()
    keep = console_module.KEEP_CHARS
    for i in range(3):
        con.write(b"x" * keep)
    con.write(b"END")
    assert len(con.value) == keep and con.value.endswith("xEND")
    assert con.dropped == 2 * keep + 3
    assert f"{2 * keep + 3:,} earlier characters not kept" in con.html.value
    con.clear()
    assert con.dropped == 0 and "not kept" not in con.html.value


# -- snapshot panel ----------------------------------------------------------------------------
def test_snapshot_panel_saves_changes_and_restores_the_vm():
    from vmkit_widgets import SnapshotPanel
    _, vm = tinyos_vm("trap", iterations=3)
    vm.run(5_000)
    panel = SnapshotPanel(vm, step=4_000)
    assert panel.buttons["restore"].disabled and "no snapshot yet" in html_text(panel.html.value)
    panel.buttons["save"].click()
    assert panel.back and not panel.buttons["restore"].disabled and panel.size > 0
    saved = dict(panel.state())
    panel.buttons["run on"].click()
    assert vm.counters.guest_instructions == 9_000 and not panel.back
    after = bytes(vm.console)
    panel.buttons["write RAM"].click()
    assert "differs from the snapshot" in html_text(panel.html.value)
    panel.buttons["restore"].click()
    assert panel.back and panel.state() == saved and vm.counters.guest_instructions == 5_000
    assert "the VM is as saved" in html_text(panel.html.value)
    panel.run()                                  # the same again, from the same point
    assert bytes(vm.console) == after and vm.counters.guest_instructions == 9_000


def test_snapshot_panel_shows_a_failure_instead_of_raising():
    from vmkit_widgets import SnapshotPanel
    _, vm = tinyos_vm("hw")
    panel = SnapshotPanel(vm)
    with pytest.raises(ValueError, match="save a snapshot first"):
        panel.restore()
    panel.save()
    panel.snapshot = panel.snapshot.to_bytes()[:-10]        # a truncated snapshot
    before = panel.state()
    panel.buttons["restore"].click()
    assert "SnapshotError" in panel.message and "truncated" in panel.message
    assert panel.state() == before                           # the VM is unchanged
    with pytest.raises(ValueError, match="step"):
        SnapshotPanel(vm, step=0)
    with pytest.raises(ValueError, match="not a page inside guest RAM"):
        panel.scribble(vm.ram_size)


# -- the page-walk view (notebook 06) ------------------------------------------------------------
NESTED_4K = "nested paging, 4 KiB G-stage pages (hw)"


def test_page_walk_steps_through_the_2d_walk_into_its_grid():
    """Nested paging with 4 KiB G-stage pages: G G VS G G VS G G (tests/test_nested_paging.py
    works it out). After 3 steps the third read is the guest's root PTE: row "VS level 1",
    column "VS PTE", highlighted, with the two G-stage reads before it in the same row; the
    data's G-stage reads are the last row. All steps: 8 of 8, the number the MMU counted."""
    from vmkit_widgets import PageWalk
    from vmkit_widgets.pagewalk import grid
    view = PageWalk(NESTED_4K)
    assert view.shown == 0 and "press step" in view.steps_html.value
    for _ in range(3):
        view.step_button.click()
    assert view.references_shown() == 3
    rows, columns, cells = grid(view.access)
    assert rows == ["VS level 1", "VS level 0", "data (guest-physical)"]
    assert columns == ["G-stage level 1", "G-stage level 0", "VS PTE (guest's table)"]
    assert cells[0, "G-stage level 1"] == [1] and cells[0, "VS PTE (guest's table)"] == [3]
    assert cells[2, "G-stage level 1"] == [7] and cells[2, "G-stage level 0"] == [8]
    assert (2, "VS PTE (guest's table)") not in cells            # the data is not a PTE
    table = view.picture.value
    assert "background:#ffe08a'>3</td>" in table and ">4</td>" not in table
    assert "3 of 8" in html_text(view.count.value)
    view.all_button.click()
    counted = view.access.counters["walk_references"]
    assert counted == 8 and "8 of 8" in html_text(view.count.value)
    assert f"the MMU counted {counted} in 1 walk(s)" in html_text(view.count.value)
    assert "TLB entry: 0x40000000 -> " in html_text(view.steps_html.value)
    view.step_button.click()                                     # past the end: stays there
    assert view.shown == len(view.access.steps)
    view.reset_button.click()
    assert view.shown == 0 and "3" not in view.picture.value.split("</tr>", 1)[1]


def test_page_walk_under_trap_shows_the_hidden_fault_and_the_fill():
    """Shadow paging: 1 shadow read (invalid) and the page fault, 2 reads of the guest's table
    by the VMM and the fill, then the 2-read shadow walk (tests/test_nested_paging.py)."""
    from vmkit_widgets import PageWalk
    from vmkit_widgets.pagewalk import grid
    view = PageWalk(NESTED_4K)
    view.choice.value = "shadow paging (trap)"                  # the dropdown reloads
    assert view.access.engine == "trap" and view.shown == 0
    view.step(2)                                                 # read 1 and the fault
    assert "page fault" in html_text(view.steps_html.value)
    assert view.references_shown("hardware") == 1 and view.references_shown("VMM") == 0
    view.step(3)                                                 # reads 2, 3 and the fill
    assert "hidden fault" in html_text(view.steps_html.value)
    assert view.references_shown("VMM") == 2
    rows, columns, cells = grid(view.access)
    assert columns == ["shadow table (hardware)", "guest's table (VMM, software)"]
    assert cells[0, "shadow table (hardware)"] == [1, 4] and cells[1, "shadow table (hardware)"] == [5]
    view.step(10)
    text = html_text(view.count.value)
    assert "3 of 3" in text and "2 of 2 by the VMM" in text and "the MMU counted 3 in 2" in text
    assert view.access.counters["hidden_faults"] == 1


def test_page_walk_counts_equal_the_mmu_under_every_technique():
    from vmkit.pagewalk import TECHNIQUES
    from vmkit_widgets import PageWalk
    view = PageWalk("native")
    for technique in TECHNIQUES:
        view.load(technique)
        view.all_button.click()
        assert view.references_shown("hardware") == view.access.counters["walk_references"]
    assert {t: view._observed[t].counters["walk_references"] for t in TECHNIQUES} == {
        "native": 2, "shadow paging (trap)": 3, NESTED_4K: 8,
        "nested paging, 4 MiB G-stage pages (hw)": 5}
    with pytest.raises(ValueError, match="unknown technique"):
        PageWalk("bt")


def test_grouped_bars_plot_the_values_given():
    from vmkit_widgets import GroupedBars
    values = {("pagefault", "native"): 10, ("pagefault", "hw"): 30, ("ptemod", "native"): 5}
    bars = GroupedBars(values, title="t", label="cycles")
    assert bars.source.data["x"] == list(values) and bars.source.data["value"] == [10, 30, 5]
    assert bars.series == ["native", "hw"]
    with pytest.raises(ValueError, match="nothing to plot"):
        GroupedBars({}, title="t", label="cycles")
