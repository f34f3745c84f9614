"""The MMU: virtual -> physical translation of the hart, one or two stages, with TLB and PMP.

With V=0, S and U accesses go through the HS-stage (satp, Sv32; x86: CR3 paging). With V=1
(a guest running in VS or VU mode) they go through two stages: the guest's own VS-stage (vsatp,
Sv32) maps guest-virtual to guest-physical, and the hypervisor's G-stage (hgatp, Sv32x4; x86:
EPT/NPT) maps guest-physical to host-physical. The guest's page tables live in guest-physical
memory, so every VS-stage PTE address is itself G-stage translated: the "2D walk".

Faults: a VS- or HS-stage failure is a page fault (12/13/15); a G-stage failure is a guest-page
fault (20/21/23, x86: EPT violation) carrying the faulting guest-physical address for htval, also
when it happens on a VS-stage PTE read (then it is the PTE's address, and the cause follows the
original access type - spec 8.5.1; QEMU 7.2 wrongly reports 21 there, fixed in QEMU 8.1). A PMP
denial or a bus error on any access, including PTE reads and A/D write-backs, is an access
fault (1/5/7); walks are checked by PMP as S-mode accesses (spec 3.7.1). (QEMU 7.2 instead
reports a page fault, or during a two-stage walk a load guest-page fault, when a PTE address
hits no memory.)

As QEMU does, A and D are set by hardware: a walk that ends in a permitted access sets A, and
D for a store, in each stage's leaf PTE (spec 4.3.2 step 7, the "Svadu" behaviour).

The hart computes the effective privilege and V (MPRV/MPP/MPV, HLV/HSV with hstatus.SPVP) and
calls `translate`; it calls the `Tlb` fence methods directly (`mmu.tlb.flush_vma`, ...) for
SFENCE.VMA/HFENCE, and `mmu.pmp_changed()` after writing a PMP register.

An untagged TLB (`Tlb(tagged=False)`, a CPU without ASIDs and VMIDs) is told the address space
of every access that uses it: satp, or vsatp and hgatp, whole, and V. Any change flushes it, as
a CR3 load without PCID or a VM entry without VPID does on x86, whoever made the change: the
guest's own CSR write, or a VMM switching shadow tables or VMs. (Rewriting the same value changes
no translation and goes unseen.)

Counters (`counters()`): the model counts its own work as hardware performance counters would:
TLB lookups, hits and misses, page walks, and every PTE read of a walk by the stage whose table
it reads (HS, VS, G). `walk_references_2d` is the part of the G-stage reads that translated the
address of a VS-stage PTE: the second dimension of the 2D walk, which a native walk never makes.
All of them are counted from the walk's own record (`Walk`, paging.py), one `Ref` per PTE read.

Watching walks: `last_walk` is the record of the most recent TLB miss; set `walk_log` to a list
and every walk's record is appended to it, in order, with the TLB entry it left (`Walk.entry`):
vmkit/pagewalk.py and notebook 06 draw one access from it. `walk_log` is looked at on a TLB
miss only (a hit never walks), so off (None) it costs the simulator nothing on either
execution path: the fast path's page caches fall back to `translate` for every miss too.

Source: RISC-V privileged spec 20211203, sections 3.7, 4.3, 8.5, 8.6; QEMU 7.2
target/riscv/cpu_helper.c (get_physical_address, riscv_cpu_tlb_fill).
"""

from .bus import BusError
from .paging import (PTE_A, PTE_D, PTE_G, PTE_R, PTE_U, PTE_W, PTE_X, SV32, SV32X4, Walk,
                     WalkFault, mark_nested, walk)
from .pmp import pmp_allows, pmp_rules
from .tlb import Tlb, TlbEntry
from .trap import Trap

FETCH, LOAD, STORE = 0, 1, 2            # access types (AMOs are STORE)
PAGE_FAULT = (12, 13, 15)               # indexed by access type
GUEST_PAGE_FAULT = (20, 21, 23)
ACCESS_FAULT = (1, 5, 7)
IMPLICIT_PTE_READ = 0x00002000          # htinst pseudo-instruction for a VS-stage PTE read

SATP_MODE = 1 << 31                     # satp/vsatp/hgatp MODE (RV32: 1 bit, 1 = Sv32/Sv32x4)
PPN_MASK = (1 << 22) - 1
STATUS_SUM = 1 << 18
STATUS_MXR = 1 << 19
PRIV_U, PRIV_S, PRIV_M = 0, 1, 3
STAGES = ("HS", "VS", "G")              # Ref.stage of a PTE read (paging.py)
COUNTERS = ("tlb_lookups", "tlb_hits", "tlb_misses", "tlb_flushes", "page_walks",
            "walk_references", "walk_references_hs", "walk_references_vs", "walk_references_g",
            "walk_references_2d")       # Mmu.counters' keys


def leaf_allows(pte: int, access: int, user: bool, sum_: int, mxr: int,
                hlvx: bool = False) -> bool:
    """May a leaf PTE be used for this access? (spec 4.3.1 U bit, 4.3.2 step 5, 8.5.1)

    user: the access is made in U/VU-mode (always true for the G-stage, whose leaves must all
    have U=1). S-mode may touch U pages only for loads/stores and only with SUM=1, and never
    executes from them. MXR makes execute-only pages readable; HLVX needs X instead of R.
    """
    if pte & PTE_U:
        if not user and (access == FETCH or not sum_):
            return False
    elif user:
        return False
    if access == FETCH:
        return bool(pte & PTE_X)
    if access == STORE:
        return bool(pte & PTE_W)
    if hlvx:
        return bool(pte & PTE_X)
    return bool(pte & PTE_R or (mxr and pte & PTE_X))


class Mmu:
    def __init__(self, hart, bus, tlb: Tlb | None = None):
        self.hart = hart
        self.bus = bus
        self.tlb = tlb if tlb is not None else Tlb()
        self.last_walk = None           # Walk of the most recent TLB miss
        self.walk_log = None            # a list: every Walk is appended to it (None: off)
        self.walks = 0                  # TLB misses that walked
        self.walk_references = 0        # PTE reads made by those walks
        self.stage_references = dict.fromkeys(STAGES, 0)    # ... by the stage of the table
        self.nested_references = 0      # G-stage reads translating VS-stage PTE addresses
        self.pmp_changed()

    def counters(self) -> dict:
        """What the MMU counted since reset, under the names the VMM's counters use."""
        self.hart.sync_counters()       # the hart's page caches' hits are TLB hits
        tlb, stage = self.tlb, self.stage_references
        return dict(zip(COUNTERS, (tlb.hits + tlb.misses, tlb.hits, tlb.misses, tlb.flushes,
                                   self.walks, self.walk_references, stage["HS"], stage["VS"],
                                   stage["G"], self.nested_references)))

    def pmp_changed(self) -> None:
        """Re-read pmpcfg/pmpaddr: the hart calls this after writing a PMP register."""
        self._pmp_rules = pmp_rules(self.hart.pmpcfg, self.hart.pmpaddr)

    # -- translation ---------------------------------------------------------------------
    def translate(self, vaddr: int, access: int, priv: int, virt: bool, *,
                  hlvx: bool = False, size: int = 1) -> int:
        """Physical address for an access of `size` bytes (not crossing a page) at `vaddr`.

        priv/virt are the effective mode of the access. Raises Trap on any fault.
        """
        hart = self.hart
        if priv == PRIV_M:
            satp = 0
        elif virt:
            satp = hart.vsatp
            vmid = (hart.hgatp >> 22) & 0x7F
            if not (satp | hart.hgatp) & SATP_MODE:
                satp = 0
            else:
                satp |= SATP_MODE       # a TLB context even when only the G-stage is on
        else:
            satp = hart.satp
            vmid = 0
        if not satp & SATP_MODE:        # Bare: no translation, only PMP
            paddr = vaddr
        else:
            asid = (satp >> 22) & 0x1FF
            if not self.tlb.tagged:     # it must see every change of address space
                self.tlb.switch(*((hart.vsatp, hart.hgatp, True) if virt else
                                  (hart.satp, 0, False)))
            entry = self.tlb.lookup(vaddr >> 12, asid, vmid, virt, access == STORE)
            if entry is None:
                entry = self._walk(vaddr, access, priv, virt, hlvx, asid, vmid)
            else:
                self._check_entry(entry, vaddr, access, priv, virt, hlvx)
            paddr = entry.pa_base | (vaddr & entry.mask)
        if not pmp_allows(self._pmp_rules, paddr, size, access, priv):
            raise Trap(ACCESS_FAULT[access], vaddr, gva=virt)
        return paddr

    def _first_stage_bits(self, virt: bool):
        """(SUM, MXR) for the VS- or HS-stage. mstatus.MXR also applies to the VS-stage."""
        status = self.hart.vsstatus if virt else self.hart.mstatus
        return status & STATUS_SUM, (status | self.hart.mstatus) & STATUS_MXR

    def _check_entry(self, entry, vaddr, access, priv, virt, hlvx) -> None:
        """Permission check of a TLB hit: the same checks, in the same order, as a walk."""
        if entry.flags is not None:
            sum_, mxr = self._first_stage_bits(virt)
            if not leaf_allows(entry.flags, access, priv == PRIV_U, sum_, mxr, hlvx):
                raise Trap(PAGE_FAULT[access], vaddr, gva=virt)
        if entry.gflags is not None:
            if not leaf_allows(entry.gflags, access, True, 0,
                               self.hart.mstatus & STATUS_MXR, hlvx):
                raise Trap(GUEST_PAGE_FAULT[access], vaddr,
                           gpa=entry.gpa_base | (vaddr & entry.mask), gva=True)

    # -- the walk (TLB miss) -------------------------------------------------------------
    def _walk(self, vaddr, access, priv, virt, hlvx, asid, vmid) -> TlbEntry:
        hart = self.hart
        record = Walk(vaddr)
        self.last_walk = record
        if self.walk_log is not None:
            self.walk_log.append(record)
        self.walks += 1
        satp = hart.vsatp if virt else hart.satp
        g_on = bool(virt and hart.hgatp & SATP_MODE)
        try:
            if satp & SATP_MODE:
                flags, level, is_global, gpa = self._first_stage(
                    record, vaddr, access, priv, virt, hlvx, satp, g_on)
            else:                       # VS-stage Bare: the guest-virtual address is the GPA
                flags, level, is_global, gpa = None, 1, False, vaddr
            if g_on:
                paddr, glevel, gflags = self._g_stage(record, gpa, access, hlvx, vaddr, access)
                record.gpa = gpa
            else:
                paddr, glevel, gflags = gpa, level, None
        except Trap as trap:
            if record.fault is None:    # keep the walker's reason when it gave one
                record.fault = trap
            raise
        finally:
            self.walk_references += len(record.references)
            for ref in record.references:
                self.stage_references[ref.stage] += 1
                self.nested_references += ref.nested
        first_level, level = level, min(level, glevel)   # a combined translation is as
        mask = (1 << (12 + 10 * level)) - 1                # big as the smaller page
        record.paddr, record.page_size = paddr, mask + 1
        entry = TlbEntry(vaddr >> 12, level, asid, vmid, virt, is_global, paddr & ~mask,
                         gpa & ~mask, flags, gflags, first_level)
        self.tlb.insert(entry)
        record.entry = entry
        return entry

    def _first_stage(self, record, vaddr, access, priv, virt, hlvx, satp, g_on):
        """The VS- or HS-stage Sv32 walk, its permission check and A/D update."""
        stage = "VS" if virt else "HS"
        where = [0]                     # physical address of the last PTE read

        def read_pte(address):
            if g_on:                    # implicit access: checked as a load, faults as `access`
                address = self._g_stage(record, address, LOAD, False, vaddr, access,
                                        implicit=True)[0]
            where[0] = address
            return self._read_pte(address, access, vaddr, virt)

        try:
            pte, level, _, gpa = walk(SV32, satp & PPN_MASK, vaddr, read_pte, stage,
                                      record.references)
        except WalkFault as fault:
            record.fault = fault
            raise Trap(PAGE_FAULT[access], vaddr, gva=virt) from None
        sum_, mxr = self._first_stage_bits(virt)
        if not leaf_allows(pte, access, priv == PRIV_U, sum_, mxr, hlvx):
            record.fault = WalkFault(f"{stage} leaf PTE does not permit this access", level)
            raise Trap(PAGE_FAULT[access], vaddr, gva=virt)
        pte = self._set_accessed(record, stage, pte, where[0], access, vaddr, virt)
        # The G bit of any PTE on the path makes the mapping global (spec 4.3.1).
        is_global = any(ref.pte & PTE_G for ref in record.references if ref.stage == stage)
        return pte & 0xFF, level, is_global, gpa

    def _g_stage(self, record, gpa, access, hlvx, vaddr, cause_access, implicit=False):
        """G-stage (Sv32x4) translation of one guest-physical address: (hpa, level, flags).

        Faults are guest-page faults of `cause_access` (the original access) with htval's GPA.
        An `implicit` access is the VS-stage walk reading a PTE: its fault reports the
        pseudo-instruction 0x00002000 ("32-bit load of a PTE") in mtinst/htinst (spec 8.6.3).
        """
        tinst = IMPLICIT_PTE_READ if implicit else 0
        hart = self.hart
        # Sv32x4: the root is 16 KiB, so hgatp.PPN's low two bits are zero (spec 8.2.10).
        root = hart.hgatp & PPN_MASK & ~3
        made = len(record.references)
        try:
            pte, level, pte_address, hpa = walk(
                SV32X4, root, gpa, lambda a: self._read_pte(a, cause_access, vaddr, True),
                "G", record.references)
        except WalkFault as fault:
            record.fault = fault
            raise Trap(GUEST_PAGE_FAULT[cause_access], vaddr, gpa=gpa, gva=True,
                       tinst=tinst) from None
        finally:
            if implicit:                # the 2D part: reads a native walk does not make
                mark_nested(record.references, made)
        if not leaf_allows(pte, access, True, 0, hart.mstatus & STATUS_MXR, hlvx):
            record.fault = WalkFault("G leaf PTE does not permit this access", level)
            raise Trap(GUEST_PAGE_FAULT[cause_access], vaddr, gpa=gpa, gva=True, tinst=tinst)
        pte = self._set_accessed(record, "G", pte, pte_address, access, vaddr, True,
                                 cause_access)
        return hpa, level, pte & 0xFF

    # -- physical accesses of the walker -------------------------------------------------
    def _read_pte(self, address, cause_access, vaddr, virt) -> int:
        if not pmp_allows(self._pmp_rules, address, 4, LOAD, PRIV_S):
            raise Trap(ACCESS_FAULT[cause_access], vaddr, gva=virt)
        try:
            return self.bus.load(address, 4)
        except BusError:
            raise Trap(ACCESS_FAULT[cause_access], vaddr, gva=virt) from None

    def _set_accessed(self, record, stage, pte, address, access, vaddr, virt,
                      cause_access=None) -> int:
        """Set A (and D for a store) in a leaf PTE in memory, as QEMU does; returns the PTE.

        Like QEMU 7.2, the write goes to the physical address the PTE was read from: the
        G-stage is not consulted again for write permission on the VS-stage PTE's page.
        """
        updated = pte | PTE_A | (PTE_D if access == STORE else 0)
        if updated != pte:
            cause = ACCESS_FAULT[access if cause_access is None else cause_access]
            if not pmp_allows(self._pmp_rules, address, 4, STORE, PRIV_S):
                raise Trap(cause, vaddr, gva=virt)
            try:
                self.bus.store(address, 4, updated)
            except BusError:
                raise Trap(cause, vaddr, gva=virt) from None
            record.updates.append((stage, address, updated))
        return updated
