"""The MMU: Sv32 walks, permission rules, A/D updates, two-stage translation, faults, PMP on walks.

Page tables are written by hand into a Bus's RAM; a tiny fake hart holds the CSR values the MMU
reads. Every expected value cites the rule of the privileged spec 20211203 it comes from
(section 4.3 Sv32, 4.3.2 the walk, 8.5 two-stage translation, 8.6 traps, 3.7 PMP).
"""

import os
import re
import subprocess

import pytest

from conftest import need_tool
from corpus import HEX_ROUTINE
from vmkit.hw.bus import Bus
from vmkit.hw.mmu import FETCH, LOAD, STORE, Mmu, leaf_allows
from vmkit.hw.paging import (PTE_A, PTE_D, PTE_G, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X,
                             SV32X4, SV39, SV39X4, SV48, SV48X4, WalkFault, check_address,
                             references_2d, simulate_walk, walk)
from vmkit.hw.tlb import Tlb
from vmkit.hw.trap import Trap

RAM = 0x8000_0000
U, S, M = 0, 1, 3
SUM, MXR = 1 << 18, 1 << 19
MODE = 1 << 31
RWX = PTE_R | PTE_W | PTE_X
AD = PTE_A | PTE_D


def leaf(pa, flags):
    return (pa >> 12) << 10 | flags | PTE_V


def pointer(pa):
    return (pa >> 12) << 10 | PTE_V


class FakeHart:
    def __init__(self):
        self.priv, self.virt = S, False
        self.mstatus = self.mstatush = self.hstatus = self.vsstatus = 0
        self.satp = self.vsatp = self.hgatp = 0
        # Firmware-style PMP: entry 0 NAPOT over everything, RWX (what OpenSBI does).
        self.pmpcfg = [0x1F] + [0] * 15
        self.pmpaddr = [0xFFFF_FFFF] + [0] * 15


class Machine:
    def __init__(self, tlb=None):
        self.bus = Bus(RAM, 2 << 20)
        self.hart = FakeHart()
        self.mmu = Mmu(self.hart, self.bus, tlb)

    def poke(self, address, value):
        self.bus.store(address, 4, value)

    def peek(self, address):
        return self.bus.load(address, 4)

    def translate(self, vaddr, access=LOAD, priv=S, virt=False, **kw):
        return self.mmu.translate(vaddr, access, priv, virt, **kw)

    def fault(self, vaddr, access=LOAD, priv=S, virt=False, **kw) -> Trap:
        with pytest.raises(Trap) as info:
            self.translate(vaddr, access, priv, virt, **kw)
        return info.value


# -- Sv32 (one stage) --------------------------------------------------------------------------
# VA 0x0040_3123: VPN[1] = 1, VPN[0] = 3, offset 0x123 (spec figure 4.15).
VA = 0x0040_3123
ROOT, L0, DATA = RAM + 0x1000, RAM + 0x2000, RAM + 0x5000
ROOT_PTE, L0_PTE = ROOT + 1 * 4, L0 + 3 * 4


def sv32(flags=RWX | AD, asid=1):
    m = Machine()
    m.hart.satp = MODE | asid << 22 | ROOT >> 12
    m.poke(ROOT_PTE, pointer(L0))
    m.poke(L0_PTE, leaf(DATA, flags))
    return m


def test_4k_page_walk_reads_root_then_leaf():
    m = sv32()
    assert m.translate(VA) == DATA + 0x123
    walk_ = m.mmu.last_walk
    # Spec 4.3.2: a = satp.ppn*4096, pte at a + va.vpn[1]*4, then at pte.ppn*4096 + vpn[0]*4.
    assert [(r.stage, r.level, r.address) for r in walk_.references] == \
        [("HS", 1, ROOT_PTE), ("HS", 0, L0_PTE)]
    assert walk_.paddr == DATA + 0x123 and walk_.page_size == 4096
    assert "2 references" in str(walk_)


def test_megapage_is_one_reference_and_keeps_22_offset_bits():
    m = sv32()
    m.poke(ROOT_PTE, leaf(RAM + 0x40_0000, RWX | AD))      # 4 MiB aligned PPN
    # Spec 4.3.2 step 8: pa.ppn[0] = va.vpn[0] for a superpage.
    assert m.translate(VA) == RAM + 0x40_0000 + 0x3123
    assert len(m.mmu.last_walk.references) == 1 and m.mmu.last_walk.page_size == 4 << 20


def test_misaligned_megapage_is_a_page_fault():
    m = sv32()
    m.poke(ROOT_PTE, leaf(RAM + 0x1000, RWX | AD))         # ppn[0] != 0 (spec 4.3.2 step 6)
    trap = m.fault(VA, STORE)
    assert (trap.cause, trap.tval, trap.gva) == (15, VA, False)
    assert "misaligned" in str(m.mmu.last_walk.fault)


@pytest.mark.parametrize("pte, why", [
    (leaf(DATA, PTE_W | AD), "W=1 R=0"),                   # step 3: reserved encoding
    (leaf(DATA, PTE_W | PTE_X | AD), "W=1 R=0"),
    (leaf(DATA, RWX | AD) & ~PTE_V, "V=0"),                # step 3: invalid
    (pointer(DATA), "level 0"),                            # step 4: i < 0
])
def test_invalid_and_reserved_ptes_fault(pte, why):
    m = sv32()
    m.poke(L0_PTE, pte)
    for access, cause in ((FETCH, 12), (LOAD, 13), (STORE, 15)):
        assert m.fault(VA, access).cause == cause
    assert why in str(m.mmu.last_walk.fault)


def test_u_bit_rules_and_sum():
    user = sv32(RWX | PTE_U | AD)
    # Spec 4.3.1: U-mode may use U pages; S-mode loads/stores need SUM=1; S never executes them.
    assert user.translate(VA, FETCH, U) == DATA + 0x123
    assert user.fault(VA, LOAD, S).cause == 13
    user.hart.mstatus = SUM
    assert user.translate(VA, STORE, S) == DATA + 0x123
    assert user.fault(VA, FETCH, S).cause == 12
    supervisor = sv32(RWX | AD)
    assert supervisor.fault(VA, LOAD, U).cause == 13       # U-mode never uses U=0 pages
    assert supervisor.translate(VA, FETCH, S) == DATA + 0x123


def test_mxr_makes_execute_only_pages_readable():
    m = sv32(PTE_X | AD)
    assert m.translate(VA, FETCH) == DATA + 0x123
    assert m.fault(VA, LOAD).cause == 13                   # X only: not readable...
    m.hart.mstatus = MXR
    assert m.translate(VA, LOAD) == DATA + 0x123           # ...unless MXR=1 (spec 3.1.6.3)
    assert m.fault(VA, STORE).cause == 15                  # MXR never grants W


def test_read_only_page_refuses_stores_and_fetches():
    m = sv32(PTE_R | AD)
    assert m.translate(VA) == DATA + 0x123
    assert m.fault(VA, STORE).cause == 15 and m.fault(VA, FETCH).cause == 12


def test_a_and_d_are_written_back_like_qemu():
    m = sv32(RWX)                                           # A=0, D=0 in memory
    m.translate(VA, LOAD)
    # Spec 4.3.2 step 7 (hardware A/D update, as QEMU does): a load sets A only.
    assert m.peek(L0_PTE) == leaf(DATA, RWX | PTE_A)
    assert m.mmu.last_walk.updates == [("HS", L0_PTE, leaf(DATA, RWX | PTE_A))]
    assert m.peek(ROOT_PTE) == pointer(L0)                  # pointer PTEs are not touched
    walks = m.mmu.walks
    m.translate(VA, STORE)                                  # cached but clean: must walk again
    assert m.mmu.walks == walks + 1
    assert m.peek(L0_PTE) == leaf(DATA, RWX | AD)
    m.translate(VA, STORE)                                  # now dirty in the TLB: a hit
    assert m.mmu.walks == walks + 1


def test_failed_access_does_not_set_a():
    m = sv32(PTE_R)
    m.fault(VA, STORE)
    assert m.peek(L0_PTE) == leaf(DATA, PTE_R)              # step 5 fails before step 7


def test_m_mode_and_bare_do_not_translate():
    m = sv32()
    assert m.translate(VA, LOAD, M) == VA                   # M-mode: no translation
    assert m.mmu.walks == 0
    m.hart.satp = 0                                         # Bare
    assert m.translate(RAM + 4, STORE, S) == RAM + 4


def test_tlb_hit_skips_the_walk_and_rechecks_permissions():
    m = sv32(PTE_R | PTE_U | AD)
    m.hart.mstatus = SUM
    m.translate(VA)
    assert (m.mmu.tlb.hits, m.mmu.tlb.misses, m.mmu.walks) == (0, 1, 1)
    assert m.translate(VA + 4) == DATA + 0x127
    assert (m.mmu.tlb.hits, m.mmu.walks) == (1, 1)
    m.hart.mstatus = 0                                      # SUM cleared: the hit faults
    assert m.fault(VA).cause == 13 and m.mmu.walks == 1
    # A changed PTE is not seen until sfence.vma (spec 4.2.1), then it is.
    m.hart.mstatus = SUM
    m.poke(L0_PTE, leaf(DATA + 0x1000, PTE_R | PTE_U | AD))
    assert m.translate(VA) == DATA + 0x123
    m.mmu.tlb.flush_vma(VA, 1)
    assert m.translate(VA) == DATA + 0x1123


def test_global_bit_on_pointer_pte_makes_mapping_global():
    m = sv32()
    m.poke(ROOT_PTE, pointer(L0) | PTE_G)                   # spec 4.3.1: G on a non-leaf
    m.translate(VA)
    m.mmu.tlb.flush_vma(asid=1)                             # keeps global entries
    walks = m.mmu.walks
    m.translate(VA)
    assert m.mmu.walks == walks


def test_pte_read_denied_by_pmp_is_an_access_fault():
    m = sv32()
    m.hart.pmpcfg[0] = 0                                    # no entry: S-mode walk denied
    m.mmu.pmp_changed()
    for access, cause in ((FETCH, 1), (LOAD, 5), (STORE, 7)):
        # Spec 4.3.2 step 2 / 3.7.1: PMP on a PTE access -> access fault of the original type.
        trap = m.fault(VA, access)
        assert (trap.cause, trap.tval) == (cause, VA)


def test_walk_is_checked_as_s_mode_and_the_data_access_with_its_own_privilege():
    m = sv32(RWX | PTE_U | AD)
    # Entry 0: the page tables, read/write; entry 1: the rest, read-only for S and U.
    m.hart.pmpaddr[0] = (ROOT >> 2) | 0x3FF                 # NAPOT 8 KiB at ROOT
    m.hart.pmpcfg[0] = 0x1B                                 # NAPOT, R W
    m.hart.pmpaddr[1] = 0xFFFF_FFFF
    m.hart.pmpcfg[1] = 0x19                                 # NAPOT, R
    m.mmu.pmp_changed()
    assert m.translate(VA, LOAD, U) == DATA + 0x123
    assert m.fault(VA, STORE, U).cause == 7                 # data page: PMP says R only


def test_ad_write_back_denied_by_pmp_is_an_access_fault():
    m = sv32(RWX)
    m.hart.pmpcfg[0] = 0x19                                 # everything read-only
    m.mmu.pmp_changed()
    # The A update is an implicit store to the PTE (spec 3.7.1 applies PMP to walks).
    assert m.fault(VA, LOAD).cause == 5


def test_pte_outside_memory_is_an_access_fault():
    m = sv32()
    m.poke(ROOT_PTE, pointer(0x4000_0000))                  # nothing answers there
    assert m.fault(VA, STORE).cause == 7


def test_m_mode_pmp_only_locked_entries():
    m = Machine()
    m.hart.pmpcfg[0] = 0x99                                 # locked NAPOT R
    m.mmu.pmp_changed()
    assert m.translate(RAM, LOAD, M) == RAM
    assert m.fault(RAM, STORE, M).cause == 7


# -- two-stage translation: VS-stage Sv32 x G-stage Sv32x4 -------------------------------------
# G-stage: hgatp root (16 KiB) at HGROOT, one leaf table GL0 mapping GPA page n to host
# GBASE + n*4 KiB. VS-stage: root at GPA 0x1000, leaf table at GPA 0x2000, data at GPA 0x5000.
HGROOT, GL0, GBASE = RAM + 0x10000, RAM + 0x14000, RAM + 0x100000
VS_ROOT, VS_L0, VS_DATA = 0x1000, 0x2000, 0x5000
G_LEAF = RWX | PTE_U | AD


def gl0_pte(gpa):
    return GL0 + (gpa >> 12) * 4


def two_stage(vs_flags=RWX | AD, vmid=5, g_flags=G_LEAF):
    m = Machine()
    h = m.hart
    h.hgatp = MODE | vmid << 22 | HGROOT >> 12
    h.vsatp = MODE | 1 << 22 | VS_ROOT >> 12
    m.poke(HGROOT, pointer(GL0))                            # GPA[33:22] = 0 -> GL0
    for page in range(16):
        m.poke(GL0 + page * 4, leaf(GBASE + page * 0x1000, g_flags))
    m.poke(GBASE + VS_ROOT + 1 * 4, pointer(VS_L0))         # guest tables, in guest memory
    m.poke(GBASE + VS_L0 + 3 * 4, leaf(VS_DATA, vs_flags))
    return m


def test_two_stage_walk_makes_8_references_in_2d_order():
    m = two_stage()
    assert m.translate(VA, LOAD, S, True) == GBASE + VS_DATA + 0x123
    refs = m.mmu.last_walk.references
    # (2+1)(2+1)-1 = 8: each VS PTE address is G-translated (2 reads) before it is read, and the
    # final GPA needs a G walk of its own (spec 8.5: "the VS-stage page tables ... are
    # accessed with guest physical addresses").
    assert references_2d(2, 2) == 8 == len(refs)
    assert [r.stage for r in refs] == ["G", "G", "VS", "G", "G", "VS", "G", "G"]
    assert [r.address for r in refs] == [
        HGROOT, gl0_pte(VS_ROOT), VS_ROOT + 4,
        HGROOT, gl0_pte(VS_L0), VS_L0 + 12,
        HGROOT, gl0_pte(VS_DATA)]
    assert m.mmu.last_walk.gpa == VS_DATA + 0x123
    assert m.mmu.walk_references == 8
    m.translate(VA, LOAD, S, True)                          # cached combined translation
    assert m.mmu.walk_references == 8 and m.mmu.tlb.hits == 1


def test_guest_page_fault_at_the_final_gpa():
    m = two_stage()
    m.poke(gl0_pte(VS_DATA), 0)                             # G-stage hole under the data
    for access, cause in ((FETCH, 20), (LOAD, 21), (STORE, 23)):
        trap = m.fault(VA, access, S, True)
        # Spec 8.6.3/8.6.4: tval = the guest virtual address, GVA=1, htval = GPA >> 2.
        assert (trap.cause, trap.tval, trap.gpa, trap.gva) == (cause, VA, VS_DATA + 0x123, True)


def test_guest_page_fault_on_a_vs_pte_read_reports_the_pte_gpa_and_original_type():
    m = two_stage()
    m.poke(gl0_pte(VS_L0), 0)                               # the guest's leaf table unmapped
    trap = m.fault(VA, STORE, S, True)
    # Spec 8.5.1: implicit VS-table accesses are checked as loads but the fault is "reported
    # for the original access type": 23, not 21 (QEMU 7.2 reports 21; fixed in QEMU 8.1).
    assert (trap.cause, trap.tval, trap.gpa, trap.gva) == (23, VA, VS_L0 + 12, True)


def test_vs_stage_fault_is_a_plain_page_fault_with_gva():
    m = two_stage(vs_flags=PTE_R | AD)
    trap = m.fault(VA, STORE, S, True)
    assert (trap.cause, trap.tval, trap.gva) == (15, VA, True)


def test_g_stage_leaf_must_have_u():
    # Spec 8.5.1: "all G-stage memory accesses are considered to be user-level accesses".
    m = two_stage(g_flags=RWX | AD)
    trap = m.fault(VA, LOAD, S, True)
    assert (trap.cause, trap.gpa) == (21, VS_ROOT + 4)      # already the first VS PTE read


def test_g_stage_sets_a_and_d_in_its_own_leaf():
    m = two_stage(vs_flags=RWX, g_flags=RWX | PTE_U)
    m.translate(VA, STORE, S, True)
    assert m.peek(GBASE + VS_L0 + 12) == leaf(VS_DATA, RWX | AD)   # VS leaf: A, D
    assert m.peek(gl0_pte(VS_DATA)) == leaf(GBASE + VS_DATA, RWX | PTE_U | AD)
    assert m.peek(gl0_pte(VS_L0)) == leaf(GBASE + VS_L0, RWX | PTE_U | PTE_A)  # read only
    stages = [u[0] for u in m.mmu.last_walk.updates]
    assert stages.count("G") == 3 and stages.count("VS") == 1


def test_mxr_of_vsstatus_is_vs_stage_only_and_mstatus_mxr_covers_both():
    m = two_stage(vs_flags=PTE_X | AD, g_flags=PTE_X | PTE_U | AD)
    m.poke(gl0_pte(VS_ROOT), leaf(GBASE + VS_ROOT, G_LEAF))  # tables stay readable
    m.poke(gl0_pte(VS_L0), leaf(GBASE + VS_L0, G_LEAF))
    m.hart.vsstatus = MXR
    # Spec 8.2.11 (vsstatus.MXR: VS-stage only), 8.5.1 (HS-level MXR: both stages).
    assert m.fault(VA, LOAD, S, True).cause == 21
    m.hart.vsstatus, m.hart.mstatus = 0, MXR
    assert m.translate(VA, LOAD, S, True) == GBASE + VS_DATA + 0x123


def test_hlvx_needs_execute_permission_in_both_stages():
    m = two_stage(vs_flags=PTE_X | AD)
    # HLVX (spec 8.3.1): read permission is replaced by execute permission.
    assert m.translate(VA, LOAD, S, True, hlvx=True) == GBASE + VS_DATA + 0x123
    assert m.fault(VA, LOAD, S, True).cause == 13           # a plain load of an X-only page
    r_only = two_stage(vs_flags=PTE_R | AD)
    assert r_only.fault(VA, LOAD, S, True, hlvx=True).cause == 13
    g_no_x = two_stage()
    g_no_x.poke(gl0_pte(VS_DATA), leaf(GBASE + VS_DATA, PTE_R | PTE_W | PTE_U | AD))
    trap = g_no_x.fault(VA, LOAD, S, True, hlvx=True)
    assert (trap.cause, trap.gpa) == (21, VS_DATA + 0x123)


def test_vs_bare_leaves_only_the_g_stage():
    m = two_stage()
    m.hart.vsatp = 0
    assert m.translate(0x5123, STORE, S, True) == GBASE + 0x5123
    assert [r.stage for r in m.mmu.last_walk.references] == ["G", "G"]


def test_g_stage_megapage_and_16k_root_index():
    m = two_stage()
    m.hart.vsatp = 0
    # GPA 0x3_0040_0000: GPA[33:22] = 0xC01 needs the 12-bit Sv32x4 root index (16 KiB root).
    m.poke(HGROOT + 0xC01 * 4, leaf(RAM + 0x40_0000, G_LEAF))
    gpa = 0x3_0040_0000 + 0x1234
    trap = m.fault(gpa & 0xFFFF_FFFF, LOAD, S, True)        # only 32 bits of it are a GVA...
    assert trap.gpa == 0x0040_1234                          # ...so GPA 0x0040_1234 faults
    # With the VS stage on, a guest PTE can name the 34-bit GPA.
    m.hart.vsatp = MODE | VS_ROOT >> 12
    m.poke(GBASE + VS_ROOT + 1 * 4, leaf(0x3_0040_0000, RWX | AD))
    assert m.translate(VA, LOAD, S, True) == RAM + 0x40_3123
    assert m.mmu.last_walk.page_size == 4 << 20             # both stages 4 MiB


def test_vmid_tags_keep_two_guests_apart():
    m = two_stage(vmid=5)
    m.translate(VA, LOAD, S, True)
    m.hart.hgatp = (m.hart.hgatp & ~(0x7F << 22)) | 6 << 22  # another VM, same tables
    walks = m.mmu.walks
    m.translate(VA, LOAD, S, True)
    assert m.mmu.walks == walks + 1                         # VMID 6 has no entries yet
    m.mmu.tlb.flush_gvma(6)
    m.hart.hgatp = (m.hart.hgatp & ~(0x7F << 22)) | 5 << 22
    m.translate(VA, LOAD, S, True)
    assert m.mmu.walks == walks + 1                         # VMID 5's entry survived


def test_untagged_tlb_flushes_on_every_world_switch():
    m = two_stage()
    m.mmu = Mmu(m.hart, m.bus, Tlb(tagged=False))
    m.hart.satp = MODE | ROOT >> 12                         # the host's own (empty) table
    m.translate(VA, LOAD, S, True)
    m.translate(VA, LOAD, S, True)
    assert (m.mmu.tlb.hits, m.mmu.tlb.flushes) == (1, 0)
    m.fault(VA, LOAD, S, False)                             # HS-mode runs: V 1 -> 0, a flush
    m.translate(VA, LOAD, S, True)                          # back in the guest: walk again
    assert m.mmu.tlb.flushes == 2 and m.mmu.walks == 3


# -- the level-generic walker ------------------------------------------------------------------

def build(memory, mode, root, va, pa, next_table):
    """Map va -> pa with 4 KiB pages in a dict memory; returns the next free table address."""
    table = root
    for level in range(mode.levels - 1, 0, -1):
        shift = 12 + sum(mode.vpn_bits[:level])
        slot = table + ((va >> shift) & ((1 << mode.vpn_bits[level]) - 1)) * mode.pte_bytes
        if slot not in memory:
            memory[slot] = pointer(next_table)
            next_table += 0x4000
        table = (memory[slot] >> 10) << 12
    memory[table + ((va >> 12) & ((1 << mode.vpn_bits[0]) - 1)) * mode.pte_bytes] = \
        leaf(pa, G_LEAF)
    return next_table


def test_simulated_4x4_level_walk_makes_24_references():
    memory = {}
    gva, gpa, hpa = 0x7F12_3456_7000, 0x4000_0000, 0x9000_0000
    host_root, guest_root = 0x10_0000, 0x1000
    build(memory, SV48, guest_root, gva, gpa, 0x2000)
    host_next = 0x20_0000
    # Identity-ish G mapping of every guest table page and of the data page.
    for table_gpa in sorted({a & ~0xFFF for a in memory} | {gpa}):
        host_next = build(memory, SV48X4, host_root, table_gpa, table_gpa + hpa - gpa
                          if table_gpa == gpa else table_gpa, host_next)
    result = simulate_walk(SV48, guest_root >> 12, gva + 0x42, memory, SV48X4, host_root >> 12)
    assert result.fault is None
    assert len(result.references) == references_2d(4, 4) == 24
    assert result.paddr == hpa + 0x42 and result.gpa == gpa + 0x42
    # Order: 4 G reads translate each guest table address, then the guest PTE is read.
    assert [r.stage for r in result.references[:5]] == ["G"] * 4 + ["VS"]
    # The 2D part: the 4 x 4 G reads for the 4 guest PTE addresses are nested; the last 4,
    # for the data's guest-physical address, are not: every guest-physical address needs them.
    assert [r.nested for r in result.references] == ([True] * 4 + [False]) * 4 + [False] * 4


def test_simulated_sv39_walk_and_faults():
    memory = {}
    build(memory, SV39, 0x1000, 0x12_3456_7000, 0x8000_0000, 0x2000)
    one = simulate_walk(SV39, 1, 0x12_3456_7ABC, memory)
    assert one.paddr == 0x8000_0ABC and len(one.references) == 3
    miss = simulate_walk(SV39, 1, 0x13_3456_7000, memory)
    assert isinstance(miss.fault, WalkFault) and "invalid" in str(miss.fault)


def test_address_width_checks():
    # Spec 4.4.1: Sv39 VAs must sign-extend bit 38; 8.5.1: Sv39x4 GPAs are 41 bits, zero above.
    check_address(SV39, 0xFFFF_FFC0_0000_0000)
    with pytest.raises(WalkFault):
        check_address(SV39, 0x0000_0040_0000_0000)
    check_address(SV39X4, (1 << 41) - 1)
    with pytest.raises(WalkFault):
        check_address(SV39X4, 1 << 41)
    with pytest.raises(WalkFault):
        check_address(SV32X4, 1 << 34)


def test_sv39_reserved_high_pte_bits_fault():
    memory = {0x1000 + 8 * 0: leaf(0x8000_0000, G_LEAF) | 1 << 63}
    with pytest.raises(WalkFault, match="reserved"):
        walk(SV39, 1, 0x123, memory.get)


def test_leaf_allows_truth_table():
    # Spec 4.3.1 and 4.3.2 step 5, one row each.
    assert leaf_allows(PTE_R, LOAD, False, 0, 0)
    assert not leaf_allows(PTE_R | PTE_U, LOAD, False, 0, 0)
    assert leaf_allows(PTE_R | PTE_U, LOAD, False, SUM, 0)
    assert not leaf_allows(PTE_X | PTE_U, FETCH, False, SUM, 0)
    assert not leaf_allows(PTE_R, LOAD, True, 0, 0)
    assert leaf_allows(PTE_X, LOAD, False, 0, MXR)
    assert leaf_allows(PTE_X, LOAD, False, 0, 0, hlvx=True)
    assert not leaf_allows(PTE_R, LOAD, False, 0, MXR, hlvx=True)


# -- QEMU: the same tables, the same accesses, on qemu-system-riscv32 7.2 ----------------------
# HLV.W/HSV.W from M-mode with hstatus.SPVP=1 make VS-mode accesses through both stages without
# running guest code; traps go to M-mode (nothing delegated), whose handler prints mcause,
# mtval and mtval2 (= GPA >> 2), then skips the instruction. mstatush.GVA is not compared:
# QEMU 7.2 sets it on traps to M only when V was 1, while the spec (8.6.4) asks for it whenever
# mtval holds a guest virtual address, as after HLV; Trap.gva follows the spec.

QEMU_HEAD = r"""
    .option norvc
    .globl _start
_start:
    li t0, 0xffffffff
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    la t0, handler
    csrw mtvec, t0
    li t0, 0x100            # hstatus.SPVP = 1: HLV/HSV act as VS-mode
    csrw hstatus, t0
"""

QEMU_TAIL = r"""
    li t0, 0x100000
    li t1, 0x5555
    sw t1, 0(t0)            # sifive_test: pass
1:  j 1b
handler:
    csrr a0, mcause
    call hex
    csrr a0, mtval
    call hex
    csrr a0, mtval2
    call hex
    csrr t0, mepc
    addi t0, t0, 4
    csrw mepc, t0
    li t0, 0x1800           # MPP = M
    csrs mstatus, t0
    mret
""" + HEX_ROUTINE


class QemuScript:
    """Builds the same scenario as assembly for QEMU and as calls on a vmkit Machine."""

    def __init__(self, machine):
        self.m = machine
        self.asm = [QEMU_HEAD]
        self.expected = []

    def _print(self, value):
        self.expected.append(value & 0xFFFF_FFFF)

    def poke(self, address, value):
        self.m.poke(address, value)
        self.asm.append(f"    li t0, {address:#x}\n    li t1, {value:#x}\n    sw t1, 0(t0)\n")

    def csr(self, name, value):
        setattr(self.m.hart, name, value)
        self.asm.append(f"    li t0, {value:#x}\n    csrw {name}, t0\n")

    def show(self, address):
        self._print(self.m.peek(address))
        self.asm.append(f"    li t0, {address:#x}\n    lw a0, 0(t0)\n    call hex\n")

    def fence(self):
        self.m.mmu.tlb.flush_gvma()
        self.asm.append("    hfence.gvma zero, zero\n")

    def access(self, vaddr, store):
        insn = "hsv.w a0, (a1)" if store else "hlv.w a0, (a1)"
        self.asm.append(f"    li a1, {vaddr:#x}\n    li a0, 0\n    {insn}\n")
        try:
            self.m.translate(vaddr, STORE if store else LOAD, S, True)
        except Trap as trap:
            self._print(trap.cause)
            self._print(trap.tval)
            self._print(trap.gpa >> 2)

    def program(self):
        return "".join(self.asm) + QEMU_TAIL


def run_qemu(tmp_path, source):
    gas = need_tool("riscv64-unknown-elf-as")
    ld = need_tool("riscv64-unknown-elf-ld")
    qemu = need_tool("qemu-system-riscv32")
    (tmp_path / "p.s").write_text(source)
    subprocess.run([gas, "-march=rv32imah_zicsr", "-mabi=ilp32", "-o", tmp_path / "p.o",
                    tmp_path / "p.s"], check=True)
    subprocess.run([ld, "-m", "elf32lriscv", "-Ttext=0x80000000", "-o", tmp_path / "p.elf",
                    tmp_path / "p.o"], check=True)
    out = subprocess.run([qemu, "-M", "virt", "-bios", "none", "-nographic", "-kernel",
                          tmp_path / "p.elf"], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "TERM": "dumb"}).stdout
    return [int(v, 16) for v in re.findall(r"^([0-9a-f]{8})\r?$", out, re.M)], out


def test_two_stage_matches_qemu(tmp_path):
    """A/D updates in both stages and the guest-page / page faults, compared with QEMU 7.2.

    Tables sit 1 MiB into RAM, above the program. The final-GPA guest-page fault and the fault
    on a VS PTE read are made by loads, where QEMU 7.2 and the spec agree on cause 21.
    HS satp is set to Sv32 (unused by M-mode): with satp Bare, QEMU 7.2 turns VS-stage page
    faults of HLV/HSV from M-mode into access faults (raise_mmu_exception reads satp, not vsatp).
    """
    m = Machine()
    m.bus = Bus(RAM, 4 << 20)
    m.mmu = Mmu(m.hart, m.bus)
    q = QemuScript(m)
    hgroot, gl0, gbase = RAM + 0x20_0000, RAM + 0x20_4000, RAM + 0x30_0000
    q.poke(hgroot, pointer(gl0))
    for page in range(8):                                  # G leaves with A=D=0
        q.poke(gl0 + page * 4, leaf(gbase + page * 0x1000, RWX | PTE_U))
    q.poke(gbase + VS_ROOT + 4, pointer(VS_L0))
    q.poke(gbase + VS_L0 + 12, leaf(VS_DATA, RWX))         # VS leaf with A=D=0
    q.csr("hgatp", MODE | 3 << 22 | hgroot >> 12)
    q.csr("vsatp", MODE | 1 << 22 | VS_ROOT >> 12)
    q.csr("satp", MODE | (RAM + 0x1F_F000) >> 12)
    q.access(VA, store=False)
    for address in (gbase + VS_L0 + 12, gl0 + 5 * 4, gl0 + 2 * 4, gl0 + 1 * 4,
                    gbase + VS_ROOT + 4):
        q.show(address)
    q.access(VA, store=True)
    q.show(gbase + VS_L0 + 12)
    q.show(gl0 + 5 * 4)
    q.poke(gl0 + 5 * 4, 0)                                 # hole under the data page
    q.fence()
    q.access(VA, store=False)
    q.poke(gl0 + 5 * 4, leaf(gbase + 0x5000, RWX | PTE_U | AD))
    q.poke(gl0 + 2 * 4, leaf(gbase + 0x2000, RWX))         # guest table page without U
    q.fence()
    q.access(VA, store=False)
    q.poke(gl0 + 2 * 4, leaf(gbase + 0x2000, RWX | PTE_U | AD))
    q.poke(gbase + VS_L0 + 12, leaf(VS_DATA, PTE_W | AD))  # reserved W without R
    q.fence()
    q.access(VA, store=True)
    qemu_values, out = run_qemu(tmp_path, q.program())
    assert len(q.expected) == 7 + 3 * 3
    assert qemu_values == q.expected, out
