"""Nested paging measured: the 2D walk's memory references, counted by the MMU model itself.

A small guest (TOUCH, vmkit/guest/touch.s) builds an Sv32 table - its code in an identity megapage, one 4 KiB
page at VA - turns paging on, flushes its TLB (sfence.vma), refetches, and then loads from VA
once: one fresh page, a cold TLB. Only that load walks, so the counters' change across that
one instruction is one walk, worked out by hand here (privileged spec 4.3.2 and 8.5):

  native (satp, Sv32, 4 KiB page)                 2 PTE reads: root, leaf
  hw, 4 KiB G-stage leaves (Sv32 over Sv32x4)     (2+1)x(2+1)-1 = 8:
      G root, G leaf (translate the VS root PTE's address), VS root PTE,
      G root, G leaf (translate the VS leaf PTE's address), VS leaf PTE,
      G root, G leaf (translate the data's guest-physical address)
  hw, 4 MiB G-stage leaves                        (2+1)x(1+1)-1 = 5:
      each G-stage walk ends at the root's megapage leaf: 1 read instead of 2
  emulate                                         2: the software MMU walks the guest's table;
      guest-physical -> host is a region lookup (as QEMU's softmmu), no table walk

Of the G-stage reads, those that translated a VS-stage PTE's address (4 and 2) are the second
dimension (`walk_references_2d`). The fetch of the load itself hits the TLB (the refetch after
the fence put the code page back).
"""

import pytest

from vmkit import guest, pagewalk
from vmkit.asm import assemble
from vmkit.hw.mmu import COUNTERS
from vmkit.hw.paging import references_2d
from vmkit.vmm.host import Host
from vmkit.vmm.vm import VirtualMachine

from conftest import no_pyodide

TOUCH = guest.source(guest.TOUCH)          # vmkit/guest/touch.s

# The order of the reads, by stage, as worked out above; G* is a G-stage read that translated
# a VS PTE's address (Ref.nested, the 2D part), G one that translated the data's.
ORDER = {("native", None): ["HS", "HS"], ("emulate", None): ["HS", "HS"],
         ("hw", 4096): ["G*", "G*", "VS", "G*", "G*", "VS", "G", "G"],
         ("hw", 4 << 20): ["G*", "VS", "G*", "VS", "G"]}
# (engine, G-stage page) -> the one load's (walks, PTE reads by stage, 2D part), by hand
EXPECTED = {
    ("native", None): dict(page_walks=1, walk_references=2, walk_references_hs=2),
    ("emulate", None): dict(page_walks=1, walk_references=2, walk_references_hs=2),
    ("hw", 4096): dict(page_walks=1, walk_references=8, walk_references_vs=2,
                       walk_references_g=6, walk_references_2d=4),
    ("hw", 4 << 20): dict(page_walks=1, walk_references=5, walk_references_vs=2,
                          walk_references_g=3, walk_references_2d=2),
}


def touch_vm(engine, gstage_page=None, fast=True, **options):
    program = assemble(TOUCH, "touch.s")
    vm = VirtualMachine(program, engine=engine, fast=fast, gstage_page=gstage_page, **options)
    return vm, program.symbols


def one_load(vm, symbols):
    """The counters' change across the load at `touch` (the guest runs straight to it)."""
    before_touch = (symbols["touch"] - symbols["_start"]) // 4
    assert vm.run(before_touch).reason == "budget"
    assert vm.engine.cpu.pc == symbols["touch"]
    before = vm.counters.as_dict()
    assert vm.run(1).reason == "budget"
    after = vm.counters.as_dict()
    return {key: after[key] - before[key] for key in COUNTERS}


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("engine, gstage_page", list(EXPECTED))
def test_one_fresh_page_costs_the_hand_worked_references(engine, gstage_page, fast):
    vm, symbols = touch_vm(engine, gstage_page, fast)
    assert symbols["touch"] >> 12 == symbols["_start"] >> 12    # fetches hit one code page
    delta = one_load(vm, symbols)
    want = dict.fromkeys(COUNTERS, 0) | EXPECTED[engine, gstage_page]
    # One data lookup that misses and one fetch that hits; nothing flushed.
    want |= dict(tlb_lookups=2, tlb_hits=1, tlb_misses=1)
    assert delta == want
    walk = vm.engine.cpu.mmu.last_walk
    assert walk.vaddr == 0x4000_0000 and walk.gpa == (symbols["data"] if engine == "hw" else None)
    assert _order(walk) == ORDER[engine, gstage_page]
    assert vm.engine.cpu.x[10] == 0x5a5a                        # and it read the right word
    stop = vm.run(100)
    assert (stop.reason, stop.code) == ("shutdown", 0)


def _order(walk):
    return [ref.stage + "*" * ref.nested for ref in walk.references]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("engine, gstage_page", list(EXPECTED))
def test_the_walk_log_shows_the_hand_worked_walk_and_the_tlb_entry_it_left(
        engine, gstage_page, fast):
    """pagewalk.observe turns the MMU's walk_log on for the load alone: it must hold exactly
    one walk, of VA, in the hand-worked order; the counters must be EXPECTED (the log's reads
    are the counted ones); and the entry the walk inserted must be what the TLB now holds for
    VA (probe), mapping VA to the data's page: guest-physical `data` under hw, which the
    G-stage puts at some host frame, the same one the walk's last G read pointed to."""
    access = pagewalk.observe(engine, gstage_page, fast=fast)
    want = dict.fromkeys(COUNTERS, 0) | EXPECTED[engine, gstage_page]
    assert access.counters == want | dict(tlb_lookups=2, tlb_hits=1, tlb_misses=1)
    [walk] = access.walks
    assert walk.vaddr == access.vaddr == 0x4000_0000 and walk.fault is None
    assert _order(walk) == ORDER[engine, gstage_page]
    assert [step.ref for step in access.references] == walk.references
    assert access.count("hardware") == want["walk_references"] and access.count("VMM") == 0
    assert access.entry is walk.entry and access.entry.covers(0x4000_0000)
    assert access.entry.pa_base == walk.paddr & ~0xFFF and access.entry.level == 0
    last = walk.references[-1]          # the data's leaf: native HS, hw G (4 KiB or 4 MiB)
    leaf_frame = (last.pte >> 10) << 12
    assert walk.paddr >> 12 << 12 == (leaf_frame if last.level == 0 else
                                      leaf_frame | (walk.gpa or walk.vaddr) & 0x3FF000)
    assert access.value == 0x5a5a


def test_shadow_paging_shows_the_hidden_fault_and_the_fill():
    """Under trap the hart walks the VMM's shadow table. The guest just fenced and touches a
    page no access has touched since, so the shadow's root has no PTE for VA's 4 MiB slot: 1
    HS read, invalid, a page fault to the VMM. The VMM walks the guest's table in software
    (root, leaf: 2 reads at guest-physical addresses, the guest's own satp's), finds the
    access allowed, so the fault is hidden (hidden_faults +1, none true): it fills the shadow
    and resumes. The load runs again: the shadow walk is now root + leaf (2 HS reads). So the
    MMU counts 2 walks of 1 + 2 = 3 reads, and the VMM's 2 reads are not the MMU's."""
    access = pagewalk.observe("trap")
    hardware_miss, fill, retry = access.walks
    assert [r.stage for r in hardware_miss.references] == ["HS"]
    assert hardware_miss.references[0].pte == 0 and hardware_miss.fault is not None
    assert [(r.stage, r.level) for r in fill.references] == [("guest", 1), ("guest", 0)]
    assert fill.fault is None and fill.paddr is not None
    assert [r.stage for r in retry.references] == ["HS", "HS"] and retry.entry is access.entry
    assert retry.paddr == fill.paddr            # the frame the VMM filled in
    assert access.counters["page_walks"] == 2 and access.counters["walk_references"] == 3
    assert access.counters["hidden_faults"] == 1 and access.counters["true_faults"] == 0
    assert (access.count("hardware"), access.count("VMM")) == (3, 2)
    assert [step.who for step in access.steps if step.ref is None] == [
        "hardware", "VMM", "hardware"]          # the fault, the fill, the TLB entry
    assert "hidden fault" in str(access) and access.value == 0x5a5a


def test_observe_says_which_engines_cannot_page_yet(monkeypatch):
    """An engine without a paging_mode (trap made to refuse, by its class attribute)."""
    from vmkit.vmm.engines import engine_class
    monkeypatch.setattr(engine_class("trap"), "paging_mode", None)
    with pytest.raises(ValueError, match="does not yet virtualize guest paging"):
        pagewalk.observe("trap")


def test_under_bt_the_translator_walks_too():
    """bt's load is a hidden fault as under trap; besides, the translator read the kernel's
    code through the guest's table (before the load's block, and again for the block after
    it): VMM walks labelled as translation, not as faults."""
    access = pagewalk.observe("bt")
    assert access.counters["hidden_faults"] == 1 and access.counters["true_faults"] == 0
    whys = [walk.why for walk in access.walks if walk.why is not None]
    assert whys.count("hidden fault") == 1 and whys.count("translation") >= 1
    assert "binary translation" in str(access) and access.value == 0x5a5a


def test_the_walk_log_changes_no_count():
    """The log only records: tinyos-sized paging work (the pagefault benchmark, hw, 4 KiB G
    pages) counts the same with the MMU's walk_log on as off, and the log holds one record per
    counted walk with the counted references."""
    counts = []
    for logged in (False, True):
        vm = VirtualMachine(guest.build("pagefault", iterations=5), engine="hw",
                            gstage_page=4096)
        log = vm.engine.cpu.mmu.walk_log = [] if logged else None
        assert vm.run(1_000_000).reason == "shutdown"
        counts.append(vm.counters.as_dict())
    assert counts[0] == counts[1]
    assert len(log) == counts[1]["page_walks"]
    assert sum(len(w.references) for w in log) == counts[1]["walk_references"]
    assert sum(r.nested for w in log for r in w.references) == counts[1]["walk_references_2d"]


def test_tlb_probe_and_listing_count_nothing():
    """probe finds what lookup would, and neither it nor cached() is a TLB access."""
    access = pagewalk.observe("hw", 4096)
    vm_tlb_entry = access.entry
    from vmkit.hw.tlb import Tlb
    tlb = Tlb()
    tlb.insert(vm_tlb_entry)
    e = vm_tlb_entry
    assert tlb.probe(e.vpn, e.asid, e.vmid, e.virt) is e
    assert tlb.probe(e.vpn, e.asid, e.vmid + 1, e.virt) is None     # another VM's: no
    assert tlb.cached() == [e]
    assert (tlb.hits, tlb.misses) == (0, 0)
    assert tlb.lookup(e.vpn, e.asid, e.vmid, e.virt) is e and tlb.hits == 1


def test_the_formula_agrees_with_the_counts():
    # (n+1)(m+1)-1 with n guest and m G-stage levels walked: 4 KiB G leaves walk 2 levels,
    # 4 MiB ones 1 (the root holds the leaf).
    assert EXPECTED["hw", 4096]["walk_references"] == references_2d(2, 2) == 8
    assert EXPECTED["hw", 4 << 20]["walk_references"] == references_2d(2, 1) == 5
    assert EXPECTED["native", None]["walk_references"] == references_2d(2, 0) == 2


def test_4k_gstage_leaves_make_smaller_tlb_entries():
    """A combined entry is no bigger than the smaller page: with 4 KiB G-stage leaves the
    guest's megapage of code costs one TLB entry (and walk) per 4 KiB page it runs on."""
    runs = {}
    for page in (4096, 4 << 20):
        vm, _ = touch_vm("hw", page)
        assert vm.run(10_000).reason == "shutdown"
        runs[page] = vm.counters.as_dict()
        assert vm.engine.cpu.mmu.last_walk is not None
    assert runs[4096]["walk_references"] > runs[4 << 20]["walk_references"]
    assert runs[4096]["walk_references_2d"] > runs[4 << 20]["walk_references_2d"]


def test_gstage_page_is_checked():
    program = assemble(TOUCH, "touch.s")
    with pytest.raises(ValueError, match="gstage_page must be one of 4194304, 4096"):
        VirtualMachine(program, engine="hw", gstage_page=8192)
    with pytest.raises(ValueError, match="engine 'trap' has no G-stage table"):
        VirtualMachine(program, engine="trap", gstage_page=4096)
    assert VirtualMachine(program, engine="hw").gstage_page == 4 << 20       # today's default


def test_gstage_table_maps_all_guest_ram_with_the_chosen_leaves():
    """The largest guest (16 MiB) with 4 KiB leaves fits the engine's table pool, and every
    page of its RAM is mapped: the guest writes and reads back its last word."""
    big = TOUCH.replace("la t4, data ", "li t4, 0x80fff000 ")
    vm = VirtualMachine(assemble(big, "big.s"), engine="hw", ram_size=16 << 20,
                        gstage_page=4096)
    stop = vm.run(10_000)
    assert (stop.reason, stop.code) == ("shutdown", 0)
    assert vm.engine.cpu.x[10] == 0 and vm.read_guest(0x80fff000, 4) == (0x5a5a).to_bytes(4, "little")


def test_every_engine_reports_the_mmu_counters():
    for engine in ("native", "emulate", "hw", "trap", "bt", "pv"):
        vm = VirtualMachine(assemble(TOUCH.replace("csrw satp, t0", "nop"), "bare.s"),
                            engine=engine)
        vm.run(10_000)
        counters = vm.counters.as_dict()
        assert set(COUNTERS) <= set(counters), engine
        assert counters["tlb_lookups"] == counters["tlb_hits"] + counters["tlb_misses"]
        assert counters["walk_references"] == sum(
            counters[f"walk_references_{stage}"] for stage in ("hs", "vs", "g"))


def test_vms_on_one_host_are_each_booked_their_own_walks():
    """The hart's MMU counts for whoever is on it; the world switch books each VM its share,
    so the VMs' counts add up to the hart's, and each is what it would count alone."""
    alone = {}
    for page in (4096, 4 << 20):
        vm, _ = touch_vm("hw", page)
        vm.run(10_000)
        alone[page] = vm.counters.as_dict()
    host = Host(slice=7)                   # a world switch every few instructions
    program = assemble(TOUCH, "touch.s")
    vms = {page: host.create_vm(program, gstage_page=page) for page in (4096, 4 << 20)}
    host.run(100_000)
    assert host.world.switches > 10
    for page, vm in vms.items():
        assert vm.stop.reason == "shutdown"
        mine = vm.counters.as_dict()
        for key in ("page_walks", "walk_references", "walk_references_g",
                    "walk_references_2d"):
            assert mine[key] >= alone[page][key], key
    total = host.hart.mmu.counters()
    for key in COUNTERS:
        assert sum(vm.counters.as_dict()[key] for vm in vms.values()) == total[key], key


TOP_OF_RAM = """
    .option norvc
    .globl _start
_start:
    li t4, {top:#x}
    li t2, 0x5a5a
    sw t2, 0(t4)
    lw s0, 0(t4)
    li a0, 0
    li a1, 0
    li a7, 0x53525354
    li a6, 0
    ecall
"""


@pytest.mark.parametrize("ram_size", [8 << 20, 16 << 20])
@pytest.mark.parametrize("engine", ["native", "emulate", "hw", "trap", "bt", "pv"])
def test_the_last_word_of_guest_ram_above_4mib_is_reachable(engine, ram_size):
    """Regression: RAM over 4 MiB sat 4 MiB-aligned in host memory while PMP granted it with a
    NAPOT entry of its own size, which ignores the base's low bits: the top 4 MiB of the
    guest's RAM was denied (and host memory below it granted) under hw, trap, bt and pv."""
    top = 0x8000_0000 + ram_size - 4
    vm = VirtualMachine(assemble(TOP_OF_RAM.format(top=top), "top.s"), engine=engine,
                        ram_size=ram_size)
    stop = vm.run(1000)
    assert (stop.reason, stop.code) == ("shutdown", 0)
    assert vm.engine.registers[8] == 0x5a5a


def test_the_cost_model_prices_each_counted_reference():
    """Nested paging's cost shows under `memory`: the counted PTE reads times walk_reference
    (Bhargava et al., ASPLOS 2008: a walk's cost is its page-entry references)."""
    from vmkit.vmm.costs import cost_model
    model = cost_model("modern")
    price = model.constants["walk_reference"]
    for (engine, page), want in EXPECTED.items():
        vm, symbols = touch_vm(engine, page)
        delta = one_load(vm, symbols)
        assert model.estimate(delta)["memory"] == want["walk_references"] * price
    assert "Bhargava" in model.sources["walk_reference"]


@no_pyodide                                   # the CLI runs in a subprocess
def test_cli_switches_and_stats():
    from test_cli import no_traceback, vmkit
    import json
    rows = {}
    for page in ("4k", "4m"):
        result = vmkit("compare", "tinyos", "--engines", "hw", "--iterations", "2",
                       "--gstage-page", page, "--json")
        no_traceback(result)
        rows[page] = json.loads(result.stdout)[0]["counters"]
    assert rows["4k"]["walk_references"] > rows["4m"]["walk_references"]
    result = vmkit("run", "--guest", "tinyos", "--iterations", "2", "--stats", "--untagged-tlb")
    assert result.returncode == 0 and "walks reading" in result.stderr
    result = vmkit("run", "--guest", "tinyos:trap", "--gstage-page", "4k")
    no_traceback(result)
    assert result.returncode != 0 and result.stderr.strip().splitlines() == [
        "vmkit: engine 'trap' has no G-stage table: gstage_page is for an engine with one (hw)"]
