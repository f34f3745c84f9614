"""Exits and engines as types (exits.py, engines/engine.py), and VMM failures that stop only
their VM: a device model, the SBI or an engine that raises gives a VmStop naming the part, with
the traceback kept, and VMKIT_DEBUG=1 raises it instead.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vmkit
from vmkit import guest, lab
from vmkit.vmm.engines import ENGINES, Engine, engine_class
from vmkit.vmm.exits import NOT_EXITS, ExitReason, VmExit
from vmkit.vmm.vm import VirtualMachine

from conftest import no_pyodide
from test_guest_paging import PAGING

ENGINE_NAMES = list(ENGINES)
ROOT = Path(vmkit.__file__).parent
UART = "device uart0 at 0x10000000"


def tinyos(engine, iterations=2):
    program = guest.build("tinyos", iterations=iterations,
                          pv=engine_class(engine).needs_pv_build)
    return VirtualMachine(program, engine=engine)


class Broken(Exception):
    pass


def broken(*args, **kwargs):
    raise Broken("the model fell over")


# -- exits ----------------------------------------------------------------------------------------

def test_exit_reasons_are_their_old_strings_and_counters_keep_plain_string_keys():
    assert ExitReason.MMIO == "mmio" and f"{ExitReason.WFI}" == "wfi"
    vm = tinyos("trap")
    assert vm.run().reason == "shutdown"
    exits = vm.counters.as_dict()["exits"]
    assert exits["mmio"] > 0 and exits["illegal_instruction"] > 0
    assert all(type(kind) is str for kind in exits)          # JSON, repr: as before the enum
    assert not set(exits) & NOT_EXITS


@pytest.mark.parametrize("engine", ["native", "trap"])
def test_an_exit_the_run_loop_does_not_know_stops_the_vm(engine, monkeypatch):
    vm = tinyos(engine)
    monkeypatch.setattr(vm.engine, "enter", lambda budget: VmExit("teleport"))
    stop = vm.run()
    assert (stop.reason, stop.message) == ("error", "unhandled exit: teleport")


# -- engines as types ---------------------------------------------------------------------------

def test_the_registry_holds_engine_classes_under_their_names():
    assert ENGINE_NAMES == ["native", "emulate", "trap", "bt", "pv", "hw"]   # lecture order
    for name, engine in ENGINES.items():
        assert issubclass(engine, Engine) and engine.name == name and engine.title
        assert engine_class(name) is engine
    assert lab.DEFAULT_ENGINES == tuple(ENGINES)
    for bad in ("vmware", None, ["hw"]):
        with pytest.raises(ValueError, match="unknown engine .*choose one of native, emulate"):
            engine_class(bad)
    with pytest.raises(ValueError, match="unknown engine 'vmware'"):
        VirtualMachine(guest.build("tinyos"), engine="vmware")


def test_capabilities_say_what_the_lab_and_widgets_used_to_read_from_names():
    def having(capability):
        return {name for name, engine in ENGINES.items() if getattr(engine, capability)}
    assert having("needs_pv_build") == {"pv"}
    assert having("has_vm_exits") == {"hw"}
    assert having("software_cpu") == {"emulate"}
    assert having("deprivileged") == {"trap", "bt", "pv"}
    assert having("paging_mode") == set(PAGING)       # as tests/test_guest_paging.py runs it
    assert {name: engine.paging_mode for name, engine in ENGINES.items()} == {
        "native": "native", "emulate": "soft", "trap": "shadow", "bt": "shadow", "pv": "direct",
        "hw": "nested"}


def test_the_cli_help_lists_every_engine_with_its_title():
    from vmkit.cli import _technique_lines
    lines = _technique_lines().splitlines()
    assert [line.split()[0] for line in lines] == ENGINE_NAMES
    assert all(ENGINES[line.split()[0]].title in line for line in lines)


def test_no_module_outside_the_engines_branches_on_an_engine_name():
    names = "|".join(ENGINES)
    pattern = re.compile(rf"""(engine|name)\s*[!=]=\s*["']({names})["']""")
    files = [p for p in (ROOT.rglob("*.py")) if "engines" not in p.parts]
    files += list((ROOT.parent / "widgets").rglob("*.py"))
    offenders = [f"{p}:{n}" for p in files
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    assert len(files) > 20 and offenders == []


def test_no_module_outside_the_engines_reads_an_engines_private_state():
    """Outside vmm/engines/, an engine is reached through the Engine interface only: no
    `engine._x`, and none of bt's translation-cache bookkeeping (blocks, by_tc)."""
    pattern = re.compile(r"engine\.(_[a-z]\w*|blocks|by_tc|callouts)\b|"
                         r"[\"'](_emulate|_hypercall|_serve_callout)[\"']")
    files = [p for p in ROOT.rglob("*.py") if "engines" not in p.parts]
    files += list((ROOT.parent / "widgets").rglob("*.py"))
    files += list((ROOT.parent / "notebooks").rglob("*.ipynb"))
    offenders = [f"{p}:{n}" for p in files
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    assert len(files) > 20 and offenders == []


def _imports(path):
    """The absolute names of the modules `path` imports (relative ones resolved)."""
    package = ["vmkit", "vmm", "engines"]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def test_no_engine_module_imports_the_vm_module():
    paths = sorted((ROOT / "vmm" / "engines").glob("*.py"))
    assert len(paths) >= 8
    imported = {name for path in paths for name in _imports(path)}
    assert "vmkit.vmm.exits.VmExit" in imported                # the parser resolves `..exits`
    assert "vmkit.vmm.vm" not in imported


@no_pyodide
def test_an_engine_module_imports_first_in_a_fresh_interpreter():
    code = ("import sys\nimport vmkit.vmm.engines.hw as hw\n"
            "print(hw.HwEngine.name, 'vmkit.vmm.vm' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hw", "False"]


# -- VMM failures stop only their VM -------------------------------------------------------------

def _assert_failure(stop, component):
    assert stop.reason == "error"
    assert stop.message == f"{component}: Broken: the model fell over"
    assert "Traceback" in stop.traceback and "the model fell over" in stop.traceback


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_device_model_that_raises_stops_its_vm_naming_the_device(engine):
    vm, other = tinyos(engine), tinyos(engine)
    vm.uart.write = broken               # the VM's one UART model, under every engine
    stop = vm.run()
    _assert_failure(stop, UART)
    assert vm.run() is stop              # it stays stopped
    assert other.run().reason == "shutdown"      # another VM is not disturbed


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_failing_sbi_stops_its_vm_naming_the_sbi(engine):
    vm = tinyos(engine)
    vm.sbi.handle = broken
    _assert_failure(vm.run(), "sbi")


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_failing_engine_stops_its_vm_naming_the_engine(engine):
    vm = tinyos(engine)
    vm.engine.enter = broken
    _assert_failure(vm.run(), f"engine {engine}")


@pytest.mark.parametrize("engine", ["native", "hw"])     # their SBI calls exit to the loop
def test_a_failure_while_the_run_loop_handles_an_exit_stops_the_vm(engine):
    vm = tinyos(engine)
    vm.engine.complete_instruction = broken      # after the first SBI call
    _assert_failure(vm.run(), "vmm run loop")


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_with_vmkit_debug_a_vmm_failure_is_raised(engine, monkeypatch):
    monkeypatch.setenv("VMKIT_DEBUG", "1")
    vm = tinyos(engine)
    vm.uart.write = broken
    with pytest.raises(Broken, match="the model fell over"):
        vm.run()


@pytest.mark.parametrize("engine", ["native", "emulate", "hw"])
def test_keyboard_interrupt_is_never_caught(engine):
    vm = tinyos(engine)

    def interrupted(*args):
        raise KeyboardInterrupt
    vm.uart.write = interrupted
    with pytest.raises(KeyboardInterrupt):
        vm.run()


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_failure_inside_the_simulated_cpu_keeps_its_traceback(engine, monkeypatch):
    """A bug in the hart itself (not a device, not the VMM): the VM stops with the
    traceback on its stop record; VMKIT_DEBUG=1 raises it."""
    vm = tinyos(engine)
    vm.engine.cpu.pending_interrupt = broken
    stop = vm.run()
    assert stop.reason == "error" and "vmkit internal error" in stop.message
    assert "Traceback" in stop.traceback and "the model fell over" in stop.traceback
    monkeypatch.setenv("VMKIT_DEBUG", "1")
    vm = tinyos(engine)
    vm.engine.cpu.pending_interrupt = broken
    with pytest.raises(Broken, match="the model fell over"):
        vm.run()
