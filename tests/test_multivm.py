"""Several VMs on one host (Host.create_vm, Host.run): every guest gets exactly what it gets
alone; a hostile guest (writes outside its RAM, halts, spins, traps in a loop) disturbs no other
VM and never stops the host; round robin is fair, credit weights give their shares; a world
switch does not flush the TLB."""

import hashlib
from pathlib import Path

import pytest

from vmkit.asm import assemble, assemble_file
from vmkit.guest import build
from vmkit.guest.hostile import HOSTILE, OUTSIDE, hostile
from vmkit.vmm.consolidation import idle_guest, measure, sweep
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.host import Host
from vmkit.vmm.layout import GUEST_RAM
from vmkit.vmm.vm import VirtualMachine

HERE = Path(__file__).parent
ENGINE_NAMES = list(ENGINES)
HELLO_TIMER = assemble_file(HERE / "data/guest/hello_timer.s")    # UART, SBI, rdtime, wfi
TINYOS = build("tinyos")                                          # timer preemption, U-mode

HOSTILE_STOP = {"outside": "shutdown", "halt": "wfi", "spin": None, "traploop": None,
                "storm": "error"}


def outcome(vm):
    """Everything a VM's run leaves behind that another VM could disturb."""
    state = vm.engine.guest_state()
    ram = hashlib.sha256(vm.read_guest(GUEST_RAM, vm.ram_size)).hexdigest()
    return (bytes(vm.console), vm.counters.guest_instructions, vm.counters.idle,
            state["x"], state["pc"], tuple(sorted(state["csrs"].items())), ram)


def alone(program, engine, fast=True):
    vm = VirtualMachine(program, engine=engine, fast=fast)
    stop = vm.run(2_000_000)
    return stop.reason, outcome(vm)


def other_engine(engine):
    return "trap" if engine == "hw" else "hw"


# -- the same guest, alone and beside three others ----------------------------------------------
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_guest_beside_three_others_runs_exactly_as_alone(engine, fast):
    tinyos = build("tinyos", pv=ENGINES[engine].needs_pv_build)    # pv: its own kernel build
    want = {name: alone(program, engine, fast) for name, program in
            (("hello", HELLO_TIMER), ("tinyos", tinyos))}
    host = Host(ram_size=64 << 20, slice=700)       # short slices: many world switches
    if engine != "native":
        host.create_vm(TINYOS, engine="native", name="bare")
    hello = host.create_vm(HELLO_TIMER, engine=engine, fast=fast, name="hello")
    host.create_vm(hostile("spin"), engine=other_engine(engine), name="spin")
    tiny = host.create_vm(tinyos, engine="emulate" if engine == "native" else engine,
                          fast=fast, name="tinyos")
    report = host.run(300_000)
    stops = {vm["name"]: vm["stop"] for vm in report["vms"]}
    assert stops["hello"] == want["hello"][0] == "shutdown"
    assert outcome(hello) == want["hello"][1]
    if engine != "native":
        assert stops["tinyos"] == "shutdown" and outcome(tiny) == want["tinyos"][1]
    assert report["hart_switches"] > (20 if engine != "native" else 2)
    assert stops["spin"] is None


# -- hostile guests --------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_guest_disturbs_no_other_and_never_stops_the_host(kind, engine):
    victim_engine = other_engine(engine)
    want = alone(TINYOS, victim_engine)
    host = Host(ram_size=64 << 20, slice=1000)
    bad = host.create_vm(hostile(kind), engine=engine, name="bad")
    victim = host.create_vm(TINYOS, engine=victim_engine, name="victim")
    report = host.run(120_000)              # the victim needs ~2 x 43k: half the hart
    stops = {vm["name"]: vm for vm in report["vms"]}
    assert stops["bad"]["stop"] == HOSTILE_STOP[kind], stops["bad"]
    assert stops["victim"]["stop"] == "shutdown"
    assert outcome(victim) == want[1]
    if kind == "outside":
        assert bad.engine.guest_state()["x"][8] == len(OUTSIDE) * 2      # every store faulted
        assert b"\xef\xbe\xad\xde" not in bytes(host.bus.ram)
    if HOSTILE_STOP[kind] is None:            # still running: the host went on to its budget
        assert report["host_time"] == 120_000
    assert host.run(1000)["host_time"] >= report["host_time"]             # and goes on


# -- sharing the hart -----------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_round_robin_is_fair_and_weights_give_shares(engine):
    second = other_engine(engine) if engine == "native" else engine
    for policy, weights, ratio in (("round_robin", (256, 256), 1.0),
                                   ("credit", (512, 256), 2.0)):
        host = Host(ram_size=64 << 20, policy=policy, slice=500)
        a = host.create_vm(hostile("spin"), engine=engine, name="a", weight=weights[0])
        b = host.create_vm(hostile("spin"), engine=second, name="b", weight=weights[1])
        host.run(60_000)
        got = a.counters.guest_instructions / b.counters.guest_instructions
        assert got == pytest.approx(ratio, rel=0.05), (policy, got)


def test_world_switches_do_not_flush_the_tlb():
    host = Host(ram_size=64 << 20, slice=300)
    for i, engine in enumerate(("hw", "trap", "bt", "hw", "trap")):
        host.create_vm(TINYOS, engine=engine, name=f"vm{i}")
    tlb = host.machine.tlb
    before = tlb.flushes
    report = host.run(1_000_000)
    assert all(vm["stop"] == "shutdown" for vm in report["vms"])
    assert report["hart_switches"] > 100 and tlb.flushes == before and tlb.hits > 0


def test_a_second_native_vm_is_refused():
    host = Host()
    host.create_vm(TINYOS, engine="native")
    with pytest.raises(ValueError, match="already runs a native VM"):
        host.create_vm(TINYOS, engine="native")
    host.create_vm(TINYOS, engine="hw")            # the host is still usable


def test_native_needs_its_ram_free():
    host = Host()
    host.create_vm(TINYOS, engine="hw")
    with pytest.raises(ValueError, match="create it first"):
        host.create_vm(TINYOS, engine="native")
    assert host.bare_metal is None


def test_bad_vm_names_are_refused():
    host = Host()
    host.create_vm(TINYOS, engine="hw", name="a")
    for name in ("a", "", 5):
        with pytest.raises(ValueError, match="VM name"):
            host.create_vm(TINYOS, engine="hw", name=name)


# -- consolidation ----------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["hw", "trap", "emulate"])
def test_consolidation_multiplies_utilization(engine):
    rows = sweep((1, 2, 4, 8), engine=engine)
    alone = rows[0]["alone"]["utilization"]
    assert 0.05 < alone < 0.15                     # an idle guest: ~1000 of every 10000 ticks
    for row in rows:
        n = row["guests"]
        assert row["alone"]["utilization"] == alone          # one host each: no better
        assert row["consolidated"]["utilization"] == pytest.approx(n * alone, rel=0.05)
        assert row["consolidated"]["busy"] == row["alone"]["busy"]   # the same work


def test_consolidation_refuses_bad_settings():
    with pytest.raises(ValueError, match="interval"):
        idle_guest(interval=0)
    with pytest.raises(ValueError, match="native VM"):
        measure(2, engine="native")            # the bare metal cannot be shared


def test_a_vm_that_fails_to_start_leaves_nothing_behind():
    host = Host(ram_size=12 << 20)
    first = host.create_vm(TINYOS, engine="hw", name="first")     # 0-32 KiB, 4-8 MiB
    host.frames.alloc(1012, owner="someone")      # up to 4 MiB - 16 KiB: room for a pool
    used, vmids, asids = host.frames.used_frames, host.vmids.in_use, host.asids.in_use
    outside = assemble("_start: j _start\n.data\n.space 0x500000\n.word 1\n")
    with pytest.raises(ValueError, match="outside guest RAM"):
        host.create_vm(outside, engine="trap", name="big")
    with pytest.raises(ValueError, match="out of memory"):       # no room for bt's TC
        host.create_vm(TINYOS, engine="bt", name="bt")
    assert (host.frames.used_frames, host.vmids.in_use, host.asids.in_use) == (used, vmids,
                                                                               asids)
    assert host.run(100_000)["vms"][0]["stop"] == "shutdown" and "big" not in host.vms
    assert bytes(first.console).startswith(b"tinyos: booting")


def test_the_native_kernels_own_asids_do_not_reach_other_vms():
    # The native kernel picks its satp.ASID itself (here 1, the ASID the host then gives the
    # trap VM) and maps its RAM at 0x8000_0000 for S-mode only: without a flush on the switch
    # away from it, the trap VM's fetches there (in U-mode, ASID 1) would hit those entries
    # and fault.
    source = (HERE / "programs/guests/vs_paging.s").read_text()
    for old, new in (("    li t1, SATP_SV32\n", "    li t1, SATP_SV32 | (1 << 22)\n"),
                     (".equ PAGE_OFFSET, 0xC0000000", ".equ PAGE_OFFSET, 0x80000000")):
        assert old in source
        source = source.replace(old, new)
    paging = assemble(source, "vs_paging.s")
    want = {"native": alone(paging, "native"), "trap": alone(TINYOS, "trap")}
    host = Host(ram_size=64 << 20, slice=200)
    native = host.create_vm(paging, engine="native", name="native")
    trap = host.create_vm(TINYOS, engine="trap", name="trap")
    assert trap.engine.asid == 1
    report = host.run(1_000_000)
    assert [vm["stop"] for vm in report["vms"]] == ["shutdown", "shutdown"]
    assert (outcome(native), outcome(trap)) == (want["native"][1], want["trap"][1])
    assert report["tlb_flushes"] >= 1


def test_an_interrupt_line_raised_between_runs_reaches_only_its_vm():
    # A device may raise a VM's line while another VM is on the hart: hw injects it through
    # hvip.VSEIP, which must be that VM's, not the one whose context the hart holds.
    from vmkit.hw import csr as C
    host = Host(ram_size=64 << 20)
    other = host.create_vm(hostile("spin"), engine="hw", name="other")
    target = host.create_vm(hostile("spin"), engine="hw", name="target")
    other.run(100)                                   # the hart now holds `other`
    target.engine.set_external_pending(True)
    other.run(100)
    assert not host.hart.hvip & C.VSEIP              # `other` was not given it
    target.run(100)
    assert host.hart.hvip & C.VSEIP                  # `target` was


def test_the_native_vms_plic_is_wired_to_the_hart_only_while_it_runs():
    host = Host(ram_size=64 << 20)
    native = host.create_vm(hostile("spin"), engine="native", name="native")
    assert host.hart.plic is native.plic             # its S context drives mip.SEIP
    hw = host.create_vm(hostile("spin"), engine="hw", name="hw")
    assert host.hart.plic is host.machine.plic       # not another VM's device
    host.run(5000)
    native.run(10)
    assert host.hart.plic is native.plic
    hw.run(10)
    assert host.hart.plic is host.machine.plic


# -- snapshots move a VM between hosts (its placement there is the new host's) -----------------
@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_vm_snapshotted_on_a_shared_host_goes_on_on_another(engine):
    tinyos = build("tinyos", pv=ENGINES[engine].needs_pv_build)
    want = alone(tinyos, engine)
    busy = other_engine(engine)

    def host_with(name):
        host = Host(ram_size=64 << 20, slice=500)
        vm = host.create_vm(tinyos, engine=engine, name=name)     # native: created first
        host.create_vm(hostile("spin"), engine=busy, name="busy")
        return host, vm

    host, vm = host_with("first")
    host.run(30_000)
    assert vm.stop is None and 0 < vm.counters.guest_instructions < 30_000
    snap = vm.snapshot()
    alone_after = VirtualMachine.from_snapshot(snap)               # a private host
    assert alone_after.run(2_000_000).reason == "shutdown"
    assert outcome(alone_after) == want[1]
    other, moved = host_with("second")                             # another shared host
    moved.load_snapshot(snap)
    report = other.run(200_000)
    assert report["vms"][0]["stop"] == "shutdown" and outcome(moved) == want[1]
