"""Snapshots (vmkit/vmm/snapshot.py): a VM saved and restored goes on exactly as the original,
under every engine and on both execution paths; a bad snapshot changes nothing."""

import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import no_pyodide
from test_cli import no_traceback, vmkit
from test_irq import EVERYWHERE, ONE_LINE, UART_ECHO, kernel
from vmkit.asm import assemble_file
from vmkit.hw.context import save_context
from vmkit.hw.mmu import COUNTERS as MMU_COUNTERS
from vmkit.lab import load_program
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.layout import GUEST_RAM
from vmkit.vmm.snapshot import MAGIC, PREFIX, Snapshot, SnapshotError, VERSION
from vmkit.vmm.vm import VirtualMachine

HERE = Path(__file__).parent
ENGINE_NAMES = list(ENGINES)
# The teaching kernel (timer preemption, syscalls, UART), microbenchmarks, and a guest that
# sleeps in wfi until its timer fires.
WORKLOADS = ("tinyos", "syscall", "io", "callret", "csr", "trapinsn", "hello_timer")


def program(workload, engine):
    if workload == "hello_timer":
        return assemble_file(HERE / "data/guest/hello_timer.s")
    return load_program(workload, pv=ENGINES[engine].needs_pv_build)


def observed(vm, stop=None):
    """Everything a snapshot must bring back: counters, the CPU, RAM, console, devices."""
    cpu = vm.engine.cpu
    # (The MMU's counts are about the TLB, a cache a restore empties: not state.)
    counters = {k: v for k, v in vm.counters.as_dict().items() if k not in MMU_COUNTERS}
    return {"stop": None if stop is None else (stop.reason, stop.code, stop.message),
            "counters": counters, "instret": cpu.instret, "traps": cpu.traps,
            "engine": vm.engine.statistics(), "guest": vm.engine.guest_state(),
            "pc": cpu.pc, "x": list(cpu.x), "priv": cpu.priv,
            "ram": vm.read_guest(GUEST_RAM, vm.ram_size), "console": bytes(vm.console),
            "dropped": vm.console_dropped, "timer": (vm.timer_deadline, vm.timer_raised),
            "uart": vm.uart.save_state(), "plic": vm.plic.save_state(),
            "sbi": dict(vm.sbi.calls)}


def whole_state(vm):
    snap = vm.snapshot()
    return snap.ram, snap.state


# --- the property: run N, snapshot, run M == restore, run M ------------------------------------

@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("engine", ENGINE_NAMES)
@settings(max_examples=6, deadline=None)
@given(workload=st.sampled_from(WORKLOADS), before=st.integers(0, 45_000),
       after=st.integers(1, 45_000))
@example(workload="tinyos", before=0, after=30_000)          # before pv registers its page
@example(workload="hello_timer", before=150, after=2_000)   # the timer fires after the snapshot
@example(workload="hello_timer", before=138, after=100)     # raised, not yet handled
def test_restored_vm_goes_on_exactly_as_the_original(engine, fast, workload, before, after):
    vm = VirtualMachine(program(workload, engine), engine=engine, fast=fast)
    vm.run(before)
    snap = vm.snapshot()
    data = snap.to_bytes()
    expected = observed(vm, vm.run(after))

    fresh = VirtualMachine.from_snapshot(data)
    assert observed(fresh, fresh.run(after)) == expected
    # In place, into the VM that has moved on: back in time, then the same future.
    vm.load_snapshot(snap)
    assert observed(vm, vm.run(after)) == expected


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_timer_interrupt_and_syscalls_cross_the_snapshot_point(engine):
    vm = VirtualMachine(program("tinyos", engine), engine=engine)
    vm.run(20_000)
    injected, console = vm.counters.interrupts_injected, bytes(vm.console)
    restored = VirtualMachine.from_snapshot(vm.snapshot())
    stop = restored.run()
    assert stop.reason == "shutdown"
    assert restored.counters.interrupts_injected > injected      # timer ticks after restore
    assert restored.counters.guest_instructions == 42_812 or engine == "pv"
    assert bytes(restored.console).startswith(console) and len(restored.console) > len(console)


def feed_uart(vm):
    vm.uart.feed(b"hi there, q")        # RBR holds one byte, the rest waits in host_input


def raise_two(vm):
    vm.raise_irq(7)
    vm.raise_irq(5)


@pytest.mark.parametrize("guest, stimulus", [(UART_ECHO, feed_uart), (ONE_LINE, raise_two)],
                         ids=["uart input", "raised lines"])
@pytest.mark.parametrize("engine, fast", EVERYWHERE)
def test_pending_device_interrupts_cross_the_snapshot_point(engine, fast, guest, stimulus):
    """Saved between the input and the run that takes it: the PLIC's latched sources and
    line, the UART's receiver and queued input, the engine's pending external interrupt."""
    vm = kernel(engine, guest, expected=2 if guest is ONE_LINE else 1000, fast=fast)
    assert vm.run(100_000).reason == "wfi"
    stimulus(vm)
    snap = vm.snapshot()
    expected = observed(vm, vm.run(100_000))
    assert expected["stop"] == ("shutdown", 0, ""), expected["stop"]
    fresh = VirtualMachine.from_snapshot(snap)
    assert observed(fresh, fresh.run(100_000)) == expected
    vm.load_snapshot(snap)
    assert observed(vm, vm.run(100_000)) == expected


def test_save_and_restore_through_a_file(tmp_path):
    vm = VirtualMachine(program("tinyos", "hw"), engine="hw")
    vm.run(10_000)
    path = tmp_path / "tinyos.vmsnap"
    vm.save(path)
    assert path.read_bytes().startswith(MAGIC)
    restored = VirtualMachine.restore(path)
    assert observed(restored, restored.run(5_000)) == observed(vm, vm.run(5_000))


def test_a_stopped_vm_restores_stopped():
    vm = VirtualMachine(program("syscall", "native"), engine="native")
    assert vm.run().reason == "shutdown"
    restored = VirtualMachine.from_snapshot(vm.snapshot())
    assert restored.run().reason == "shutdown"
    assert restored.counters.guest_instructions == vm.counters.guest_instructions


def test_console_callback_gets_only_what_is_printed_after_the_restore():
    vm = VirtualMachine(program("tinyos", "trap"), engine="trap")
    vm.run(15_000)
    printed = bytearray()
    restored = VirtualMachine.from_snapshot(vm.snapshot(), console=printed.extend)
    restored.run()
    assert bytes(restored.console) == bytes(vm.console) + bytes(printed)
    assert printed


# --- in place: compiled code stays valid, changed pages lose theirs ------------------------------

def test_load_in_place_keeps_code_of_unchanged_pages_and_drops_changed():
    vm = VirtualMachine(program("tinyos", "native"), engine="native")
    vm.run(5_000)
    snap = vm.snapshot()
    hart = vm.engine.hart
    entry_page = vm.engine.host_address(GUEST_RAM) >> 12
    code = hart.code_pages[entry_page]
    vm.load_snapshot(snap)                       # RAM identical: nothing rewritten
    assert hart.code_pages[entry_page] is code
    changed = bytearray(snap.ram)
    changed[0:4] = (0x00100073).to_bytes(4, "little")      # ebreak at the entry
    snap.ram = bytes(changed)
    vm.load_snapshot(snap)
    assert entry_page not in hart.code_pages    # decoded from the old bytes: dropped
    assert vm.read_guest(GUEST_RAM, 4) == changed[0:4]


# --- refused, and nothing changes -----------------------------------------------------------------

@pytest.fixture(scope="module")
def saved():
    vm = VirtualMachine(program("tinyos", "bt"), engine="bt")
    vm.run(12_000)
    return vm.snapshot()


def target():
    vm = VirtualMachine(program("tinyos", "bt"), engine="bt")
    vm.run(3_000)
    return vm


def header_of(data):
    _, _, length = PREFIX.unpack_from(data)
    return json.loads(data[PREFIX.size:PREFIX.size + length]), PREFIX.size + length


def with_header(data, **changes):
    header, end = header_of(data)
    header.update(changes)
    raw = json.dumps(header).encode()
    return PREFIX.pack(MAGIC, VERSION, len(raw)) + raw + data[end:]


def refused(data, match):
    vm = target()
    before = whole_state(vm)
    with pytest.raises(SnapshotError, match=match):
        vm.load_snapshot(data)
    assert whole_state(vm) == before
    assert vm.run(2_000).reason == "budget"      # and it runs on


def test_truncated_snapshots_are_refused(saved):
    data = saved.to_bytes()
    for length in (0, 5, PREFIX.size + 3, header_of(data)[1], len(data) // 2, len(data) - 1):
        refused(data[:length], "truncated")


def test_corrupted_body_fails_the_checksum(saved):
    data = bytearray(saved.to_bytes())
    data[-10] ^= 0x40
    refused(bytes(data), "checksum")


def test_foreign_and_newer_files_are_refused(saved):
    data = saved.to_bytes()
    refused(b"\x7fELF" + data[4:], "not a vmkit snapshot")
    refused(data[:8] + struct.pack("<I", VERSION + 1) + data[12:], "newer vmkit")
    refused(data[:PREFIX.size] + b"[" + data[PREFIX.size + 1:], "header")
    with pytest.raises(SnapshotError, match="bytes"):
        VirtualMachine.from_snapshot("not a snapshot")


def test_inconsistent_header_is_refused(saved):
    data = saved.to_bytes()
    refused(with_header(data, ram_size=3 << 20), "power of two")
    refused(with_header(data, ram_bytes=8192), "ram_bytes")
    refused(with_header(data, quirks=["no-such-quirk"]), "quirks")
    refused(with_header(data, engine="qemu"), "unknown engine")


def test_a_zip_bomb_stops_at_the_declared_size(saved):
    data = saved.to_bytes()
    bomb = zlib.compress(bytes(64 << 20), 9)
    import hashlib
    header, end = header_of(data)
    header.update(body_bytes=len(bomb), sha256=hashlib.sha256(bomb).hexdigest())
    raw = json.dumps(header).encode()
    refused(PREFIX.pack(MAGIC, VERSION, len(raw)) + raw + bomb, "does not decompress")


def edited(snap, edit):
    """A well-formed file (right checksum) whose state `edit` has spoiled."""
    copy = Snapshot(snap.engine, snap.ram_size, snap.quirks, snap.fast, snap.ram,
                    json.loads(json.dumps(snap.state)))
    edit(copy.state)
    return copy.to_bytes()


@pytest.mark.parametrize("what, edit, match", [
    ("pc", lambda s: s["engine"]["cpu"].update(pc=0x80000002), "aligned"),
    ("vcpu", lambda s: s["engine"]["vcpu"].update(priv="S"), "vcpu"),
    ("tc", lambda s: s["engine"]["bt"]["tables"].update(tc_next=5), "translation cache"),
    ("bt page", lambda s: s["engine"]["bt"]["tables"]["page_blocks"]["dict"].append(
        [1, {"set": []}]), "outside guest"),
    ("bt table", lambda s: s["engine"]["bt"]["tables"].pop("generation"), "tables differ"),
    ("bt record", lambda s: s["engine"]["bt"]["tables"]["blocks"]["dict"][0][1].update(
        record="VirtualMachine"), "malformed"),
    ("bt stub", lambda s: s["engine"]["bt"]["tables"]["callouts"]["dict"][0].__setitem__(
        0, 0x80000000), "inconsistent"),
    ("uart", lambda s: s["devices"][0][2].update(ier="on"), "uart0"),
    ("uart fields", lambda s: s["devices"][0][2].pop("lcr"), "uart0"),
    ("uart fifo", lambda s: s["devices"][0][2].update(rx_fifo=[-1]), "uart0"),
    ("clint", lambda s: s["engine"]["clint"].update(mtimecmp=1 << 70), "clint"),
    ("devices", lambda s: s["devices"].clear(), "devices differ"),
    ("counters", lambda s: s["vm"]["counters"].update(idle=None, bogus=1), "counters"),
    ("exits", lambda s: s["vm"]["exits"].append(["teleport", 1]), "exits"),
    ("console", lambda s: s["vm"].update(console="***"), "console"),
    ("stop", lambda s: s["vm"].update(stop=["shutdown"]), "stop"),
    ("parts", lambda s: s.pop("devices"), "exactly"),
])
def test_inconsistent_state_is_refused_and_changes_nothing(saved, what, edit, match):
    refused(edited(saved, edit), match)


def crafted(engine, edit):
    vm = VirtualMachine(program("tinyos", engine), engine=engine)
    vm.run(4_000)
    return vm, edited(vm.snapshot(), lambda s: edit(s["engine"]["cpu"]))


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_snapshot_cannot_put_guest_code_in_m_mode(engine):
    vm, data = crafted(engine, lambda cpu: cpu.update(priv=3, virt=False))
    before = whole_state(vm)
    with pytest.raises(SnapshotError, match="cannot run in privilege 3"):
        vm.load_snapshot(data)
    assert whole_state(vm) == before
    with pytest.raises(SnapshotError, match="cannot run in privilege 3"):
        VirtualMachine.from_snapshot(data)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("field, edit", [
    ("intercept", lambda cpu: cpu.update(intercept=[])),     # its traps to M-mode, unseen
    ("pmpaddr", lambda cpu: cpu.update(pmpaddr=[0xFFFFFFFF] * 16)),   # all host memory
    ("medeleg", lambda cpu: cpu["csrs"].update(medeleg=0xFFFF)),
])
def test_a_snapshot_cannot_change_what_the_vmm_set_up(engine, field, edit):
    """A crafted snapshot (right checksum) is input: what the VMM owns stays the VMM's."""
    vm, data = crafted(engine, edit)
    ours = save_context(vm.engine.cpu)
    for target in (vm, VirtualMachine(program("tinyos", engine), engine=engine)):
        target.load_snapshot(data)
        loaded = save_context(target.engine.cpu)
        assert loaded.get(field, loaded["csrs"].get(field)) == \
            ours.get(field, ours["csrs"].get(field))
        assert target.run(20_000).reason == "budget"         # and the guest runs on


def test_another_engine_or_ram_size_is_refused(saved):
    vm = VirtualMachine(program("tinyos", "trap"), engine="trap")
    before = whole_state(vm)
    with pytest.raises(SnapshotError, match="bt engine; this VM runs trap"):
        vm.load_snapshot(saved)
    small = VirtualMachine(program("tinyos", "bt"), engine="bt", ram_size=1 << 20)
    with pytest.raises(SnapshotError, match="guest RAM"):
        small.load_snapshot(saved)
    assert whole_state(vm) == before


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(SnapshotError, match="No such file"):
        VirtualMachine.restore(tmp_path / "nothing.vmsnap")


# --- the command line ---------------------------------------------------------------------------

@no_pyodide
def test_cli_snapshot_then_restore_prints_the_rest_of_the_console(tmp_path):
    whole = vmkit("run", "--guest", "tinyos", "--engine", "trap")
    path = tmp_path / "t.vmsnap"
    first = vmkit("snapshot", "tinyos", "--engine", "trap", "--after", 20_000, "-o", path)
    assert first.returncode == 0, first.stderr
    assert f"saved {path}: tinyos under trap after 20000 guest instructions" in first.stderr
    rest = vmkit("restore", path)
    assert rest.returncode == whole.returncode == 0, rest.stderr
    assert first.stdout + rest.stdout == whole.stdout
    budget = vmkit("restore", path, "--max-instructions", 100)
    assert budget.returncode == 124 and "budget" in budget.stderr


@no_pyodide
def test_cli_bad_snapshots_are_one_line_and_exit_2(tmp_path):
    good = tmp_path / "s.vmsnap"
    assert vmkit("snapshot", "syscall", "--after", 300, "-o", good).returncode == 0
    cut = tmp_path / "cut.vmsnap"
    cut.write_bytes(good.read_bytes()[:200])
    for path, message in ((cut, "truncated"), (tmp_path / "none", "No such file"),
                          (HERE / "data/guest/hello_timer.s", "not a vmkit snapshot")):
        result = vmkit("restore", path)
        no_traceback(result)
        assert result.returncode == 2 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    result = vmkit("snapshot", "syscall", "--after", 5, "-o", tmp_path / "no/dir/x")
    no_traceback(result)
    assert result.returncode == 2 and "cannot write" in result.stderr
