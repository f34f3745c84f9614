"""The TLB model: tags, the untagged mode, fences, set-associativity and the counters.

Fence semantics: privileged spec 20211203, 4.2.1 (SFENCE.VMA: with rs2 = an ASID, global
mappings are not flushed) and 8.3.2 (HFENCE.VVMA acts on the VS-level translations of the VMID
in hgatp; HFENCE.GVMA on guest-physical translations, optionally of one VMID / address).
"""

import pytest

from vmkit.hw.paging import PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W
from vmkit.hw.tlb import Tlb, TlbEntry

RW_DIRTY = PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
RW_CLEAN = PTE_V | PTE_R | PTE_W | PTE_A


def entry(vpn, asid=0, vmid=0, virt=False, is_global=False, level=0, flags=RW_DIRTY,
          gflags=None, gpa_base=0, ppn=0x80000):
    return TlbEntry(vpn, level, asid, vmid, virt, is_global, ppn << 12, gpa_base, flags, gflags)


def test_hit_and_miss_are_counted():
    tlb = Tlb()
    assert tlb.lookup(5, 1, 0, False) is None
    e = entry(5, asid=1)
    tlb.insert(e)
    assert tlb.lookup(5, 1, 0, False) is e
    assert tlb.lookup(5, 2, 0, False) is None              # other ASID: tag mismatch
    assert tlb.lookup(5, 1, 0, True) is None               # same page but V=1: other world
    assert tlb.stats() == {"hits": 1, "misses": 3, "flushes": 0, "evictions": 0, "valid": 1}
    tlb.reset_stats()
    assert (tlb.hits, tlb.misses) == (0, 0) and len(tlb) == 1


def test_tagged_entries_of_two_address_spaces_survive_a_switch():
    tlb = Tlb()
    tlb.insert(entry(5, asid=1))
    tlb.insert(entry(5, asid=2, ppn=0x80001))
    tlb.switch(2, 0)
    tlb.switch(1, 0)
    assert tlb.lookup(5, 2, 0, False).pa_base == 0x80001000
    assert tlb.lookup(5, 1, 0, False).pa_base == 0x80000000
    assert tlb.flushes == 0


def test_untagged_tlb_flushes_on_every_context_change():
    tlb = Tlb(tagged=False)
    tlb.switch(1, 0)
    tlb.insert(entry(5, asid=1))
    tlb.switch(1, 0)                                       # same context: nothing lost
    assert len(tlb) == 1 and tlb.flushes == 0
    tlb.switch(2, 0)                                       # new address space: flush
    assert len(tlb) == 0 and tlb.flushes == 1
    tlb.insert(entry(5, asid=2))
    tlb.switch(2, 3, True)                                 # entering a VM flushes as well
    assert tlb.lookup(5, 2, 3, True) is None
    assert tlb.flushes == 2 and tlb.context == (2, 3, True)


def test_global_entry_matches_every_asid_and_survives_asid_fence():
    tlb = Tlb()
    g = entry(7, asid=1, is_global=True)
    tlb.insert(g)
    tlb.insert(entry(8, asid=1))
    assert tlb.lookup(7, 9, 0, False) is g
    tlb.flush_vma(asid=1)                                  # spec: globals are kept
    assert tlb.lookup(7, 1, 0, False) is g
    assert tlb.lookup(8, 1, 0, False) is None
    tlb.flush_vma(vaddr=7 << 12)                           # by address: globals go too
    assert tlb.lookup(7, 1, 0, False) is None
    assert tlb.flushes == 2


def test_flush_vma_by_address_and_asid_and_all():
    tlb = Tlb()
    for vpn in (1, 2):
        for asid in (1, 2):
            tlb.insert(entry(vpn, asid=asid))
    tlb.insert(entry(1, asid=1, vmid=4, virt=True))
    tlb.flush_vma(vaddr=0x1ABC, asid=1)                    # only page 1 of ASID 1
    assert tlb.lookup(1, 1, 0, False) is None
    assert tlb.lookup(1, 2, 0, False) and tlb.lookup(2, 1, 0, False)
    tlb.flush_vma()                                        # every HS-level entry...
    assert tlb.lookup(2, 1, 0, False) is None and tlb.lookup(1, 2, 0, False) is None
    assert tlb.lookup(1, 1, 4, True) is not None           # ...but not the guest's


def test_flush_vvma_only_touches_one_vm():
    tlb = Tlb()
    tlb.insert(entry(1, asid=1, vmid=4, virt=True))
    tlb.insert(entry(1, asid=1, vmid=5, virt=True))
    tlb.insert(entry(1, asid=1))
    tlb.flush_vvma(4, asid=1)
    assert tlb.lookup(1, 1, 4, True) is None
    assert tlb.lookup(1, 1, 5, True) is not None and tlb.lookup(1, 1, 0, False) is not None


def test_flush_gvma_by_vmid_and_by_guest_physical_address():
    tlb = Tlb()
    tlb.insert(entry(1, vmid=4, virt=True, gpa_base=0x0000_1000))
    tlb.insert(entry(2, vmid=4, virt=True, gpa_base=0x0080_0000))
    tlb.insert(entry(1, vmid=5, virt=True, gpa_base=0x0000_1000))
    tlb.insert(entry(1))
    tlb.flush_gvma(4, gpa=0x0000_1234)                     # same 4 MiB G-stage region only
    assert tlb.lookup(1, 0, 4, True) is None
    assert tlb.lookup(2, 0, 4, True) is not None
    tlb.flush_gvma()                                       # every VM
    assert tlb.lookup(1, 0, 5, True) is None and tlb.lookup(2, 0, 4, True) is None
    assert tlb.lookup(1, 0, 0, False) is not None          # host entries stay


def test_store_through_clean_entry_misses():
    # Spec 4.3.2 step 7 / QEMU: D is set by the walk, so a clean entry cannot serve a store.
    tlb = Tlb()
    tlb.insert(entry(3, flags=RW_CLEAN))
    assert tlb.lookup(3, 0, 0, False, store=True) is None
    assert tlb.lookup(3, 0, 0, False) is not None
    tlb.insert(entry(3, flags=RW_DIRTY))                   # the walk's refill replaces it
    assert tlb.lookup(3, 0, 0, False, store=True) is not None and len(tlb) == 1
    # A two-stage entry is dirty only when the G-stage leaf is dirty as well.
    tlb.insert(entry(4, virt=True, gflags=RW_CLEAN | PTE_U))
    assert tlb.lookup(4, 0, 0, True, store=True) is None


def test_megapage_entry_covers_1024_pages():
    tlb = Tlb()
    mega = entry(0x80400, level=1, ppn=0x80400)
    tlb.insert(mega)
    assert tlb.lookup(0x80400, 0, 0, False) is mega
    assert tlb.lookup(0x807FF, 0, 0, False) is mega
    assert tlb.lookup(0x80800, 0, 0, False) is None
    assert mega.covers(0x807F_F123) and not mega.covers(0x8080_0000)


def test_a_fence_anywhere_in_a_guest_megapage_drops_its_4k_pieces():
    """A guest megapage (VS leaf, level 1) over 4 KiB G-stage pages is cached as 4 KiB
    combined entries (the smaller page). sfence.vma in VS-mode with rs1 = another page of the
    megapage must still drop them: each holds the megapage's leaf PTE, which translates that
    address too (spec 4.2.1). A fence of an address outside the megapage leaves them."""
    tlb = Tlb()
    pieces = [TlbEntry(0x40400 + n, 0, 1, 3, True, False, (0x80000 + n) << 12,
                       (0x80000 + n) << 12, RW_DIRTY, RW_DIRTY, first_level=1) for n in (0, 3)]
    for piece in pieces:
        tlb.insert(piece)
    tlb.flush_vvma(3, 0x40800000)                         # the next megapage: not ours
    assert len(tlb) == 2
    tlb.flush_vvma(3, 0x40405000)                         # page 5 of the megapage
    assert len(tlb) == 0
    tlb.insert(entry(0x40400, level=0))                   # a 4 KiB leaf: only its own page
    tlb.flush_vma(0x40405000)
    assert len(tlb) == 1


def test_set_associative_fifo_eviction():
    tlb = Tlb(entries=4, ways=2)                           # 2 sets; even VPNs share set 0
    for vpn in (0, 2):
        tlb.insert(entry(vpn))
    tlb.insert(entry(1))                                   # set 1: no eviction
    tlb.insert(entry(4))                                   # set 0 full: oldest (0) goes
    assert tlb.evictions == 1
    assert tlb.lookup(0, 0, 0, False) is None
    assert all(tlb.lookup(v, 0, 0, False) for v in (1, 2, 4))


def test_fully_associative_and_direct_mapped_shapes():
    direct = Tlb(entries=4, ways=1)
    direct.insert(entry(0))
    direct.insert(entry(4))                                # same set in a direct-mapped TLB
    assert direct.evictions == 1
    full = Tlb(entries=4, ways=4)
    for vpn in (0, 4, 8, 12):
        full.insert(entry(vpn))
    assert full.evictions == 0 and len(full) == 4


@pytest.mark.parametrize("entries, ways", [(0, 1), (6, 4), (4, 0), ("64", 4)])
def test_bad_geometry_is_a_clear_error(entries, ways):
    with pytest.raises(ValueError, match="divisible"):
        Tlb(entries=entries, ways=ways)
