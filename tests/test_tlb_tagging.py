"""TLB tagging measured (x86: VPID and PCID): VMs sharing a hart, and one guest switching its
address spaces, with a tagged TLB (VMID/ASID entries survive the switch) and an untagged one
(`tlb_tagged=False`: the whole TLB is flushed on every world switch and address-space change,
as on a CPU without tags). The guest sees no difference; the MMU's counters do."""

import pytest

from vmkit.asm import assemble
from vmkit.lab import load_program
from vmkit.vmm.engines import ENGINES, engine_class
from vmkit.vmm.host import Host
from vmkit.vmm.vm import VirtualMachine

# Two address spaces (ASIDs 1 and 2) that map the code alike and VA to different pages; the
# guest switches between them without a fence (its tables never change, so none is needed:
# privileged spec 4.2.1) and loads from VA in each.
SWITCHER = """
    .option norvc
    .equ VA, 0x40000000
    .equ ROUNDS, {rounds}
    .globl _start
_start:
    la a0, root_a
    la a1, leaves_a
    la a2, data_a
    call build
    la a0, root_b
    la a1, leaves_b
    la a2, data_b
    call build
    la t0, root_a                         # s1, s2: satp of each space, with its ASID
    srli t0, t0, 12
    li t1, 0x80000000 | 1 << 22
    or s1, t0, t1
    la t0, root_b
    srli t0, t0, 12
    li t1, 0x80000000 | 2 << 22
    or s2, t0, t1
    li s0, ROUNDS
    li t5, VA
    li s3, 0
loop:
    csrw satp, s1
    lw t0, 0(t5)
    add s3, s3, t0
    csrw satp, s2
    lw t0, 0(t5)
    add s3, s3, t0
    addi s0, s0, -1
    bnez s0, loop
    csrw satp, zero
    li a0, 0                              # SBI system_reset: shutdown
    li a1, 0
    li a7, 0x53525354
    li a6, 0
    ecall
1:  j 1b

# build(a0 = root, a1 = leaf table, a2 = data page): code megapage, VA -> the data page,
# which holds its own address.
build:
    li t1, (0x80000000 >> 22) * 4
    add t1, a0, t1
    li t2, (0x80000000 >> 12) << 10 | 0xCF
    sw t2, 0(t1)
    srli t2, a1, 12
    slli t2, t2, 10
    ori t2, t2, 1
    li t1, (VA >> 22) * 4
    add t1, a0, t1
    sw t2, 0(t1)
    srli t2, a2, 12
    slli t2, t2, 10
    ori t2, t2, 0xC7
    sw t2, 0(a1)
    sw a2, 0(a2)
    ret

    .align 12
root_a:   .space 4096
leaves_a: .space 4096
data_a:   .space 4096
root_b:   .space 4096
leaves_b: .space 4096
data_b:   .space 4096
"""
ROUNDS = 50


# Every engine that runs a guest's own paging (shadow paging too: each shadow has an ASID).
PAGING = [e for e in ENGINES if engine_class(e).paging_mode and not engine_class(e).needs_pv_build]


def switcher(engine, tagged, rounds=ROUNDS):
    program = assemble(SWITCHER.format(rounds=rounds), "switcher.s")
    vm = VirtualMachine(program, engine=engine, tlb_tagged=tagged)
    stop = vm.run(100_000)
    assert (stop.reason, stop.code) == ("shutdown", 0), stop
    expected = rounds * (program.symbols["data_a"] + program.symbols["data_b"])
    assert vm.engine.registers[19] == expected & 0xFFFFFFFF        # s3: both pages read
    return vm.counters.as_dict()


@pytest.mark.parametrize("engine", PAGING)
def test_address_space_switches_miss_only_without_tags(engine):
    tagged, untagged = switcher(engine, True), switcher(engine, False)
    assert tagged["guest_instructions"] == untagged["guest_instructions"]
    # Tagged: each space's entries survive the other's turn; after the first round nothing
    # misses, so twice the rounds miss no more. Untagged: every satp write flushes, so each
    # turn refetches its code page and its data page (at least 2 misses per switch, 2
    # switches per round). Under shadow paging (trap, bt) each shadow's own host ASID is
    # what keeps its entries.
    assert tagged["tlb_misses"] < 20
    assert switcher(engine, True, 2 * ROUNDS)["tlb_misses"] == tagged["tlb_misses"]
    assert untagged["tlb_misses"] >= 4 * ROUNDS
    assert untagged["tlb_flushes"] >= 2 * ROUNDS - 1          # (the first space flushes nothing)
    assert untagged["page_walks"] == untagged["tlb_misses"]
    assert untagged["walk_references"] > 10 * tagged["walk_references"]


def shared_host(engine, tagged, vms=3):
    host = Host(slice=500)
    program = load_program("tinyos", pv=engine == "pv")
    machines = [host.create_vm(program, engine=engine, tlb_tagged=tagged) for _ in range(vms)]
    host.run(2_000_000)
    for vm in machines:
        assert vm.stop.reason == "shutdown", vm.stop
    total = {key: sum(vm.counters.as_dict()[key] for vm in machines)
             for key in ("guest_instructions", "tlb_misses", "page_walks", "walk_references",
                         "tlb_flushes")}
    return total, host, [bytes(vm.console) for vm in machines]


@pytest.mark.parametrize("engine", ["hw", "trap", "pv", "bt"])
def test_several_vms_on_one_host_tagging_saves_misses(engine):
    (tagged, t_host, t_console), (untagged, u_host, u_console) = (
        shared_host(engine, tags) for tags in (True, False))
    assert t_console == u_console                       # the guests cannot tell
    assert tagged["guest_instructions"] == untagged["guest_instructions"]
    switches = u_host.world.switches
    assert switches > 20
    # Without tags every world switch empties the TLB: the incoming VM refills it (unless it
    # only waits), one miss at least for its next fetch.
    assert u_host.world.flushes >= switches and t_host.world.flushes == 0
    assert untagged["tlb_misses"] - tagged["tlb_misses"] > switches // 2
    assert untagged["walk_references"] > tagged["walk_references"]


def test_a_switch_to_or_from_an_untagged_vm_flushes_the_whole_tlb():
    host = Host()
    program = load_program("tinyos")
    a = host.create_vm(program, engine="hw")
    b = host.create_vm(program, engine="hw", tlb_tagged=False)
    c = host.create_vm(program, engine="hw")
    tlb = host.machine.tlb
    for vm in (a, c):
        vm.run(3000)
    flushes = host.world.flushes
    a.run(100)                                       # tagged -> tagged: entries stay
    assert host.world.flushes == flushes and len(tlb) > 0 and tlb.tagged
    b.run(100)                                       # -> untagged: everything goes
    assert host.world.flushes == flushes + 1 and not tlb.tagged
    c.run(100)                                       # untagged -> tagged: again
    assert host.world.flushes == flushes + 2 and tlb.tagged


def test_lab_compare_counts_per_technique_with_and_without_tags():
    """The switches reach lab.compare (what `vmkit compare` and the widgets run): misses,
    walks and walk references per technique, each row as the VM counted it."""
    from vmkit import lab
    engines = ("native", "emulate", "hw")
    rows = {tagged: {r.engine: r.counters for r in lab.compare(
        "tinyos", engines, iterations=2, tlb_tagged=tagged, gstage_page=4096)}
        for tagged in (True, False)}
    for engine in engines:
        assert rows[True][engine]["guest_instructions"] == \
            rows[False][engine]["guest_instructions"]
        assert rows[True][engine]["walk_references"] <= rows[False][engine]["walk_references"]
    hw = rows[True]["hw"]                    # tinyos pages nothing itself: only the G-stage
    assert hw["walk_references_g"] == hw["walk_references"] > 0 == hw["walk_references_vs"]
    assert rows[True]["native"]["tlb_lookups"] == 0        # M/S-mode bare: no TLB at all
