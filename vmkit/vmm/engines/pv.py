"""`pv`: paravirtualization (x86: Xen, SOSP 2003). The guest kernel's source is changed: its
privileged operations (vmkit/guest/priv.inc with PV = 1) become loads and stores on a page it
shares with the VMM, or explicit calls into the VMM, hypercalls. It runs deprivileged exactly
as under `trap` (real U-mode, the VMM's own page table): this engine is the trap engine
plus the hypercall ABI below, so a stray privileged instruction is still trap-and-emulated.
A paging kernel built for it (mmu.inc with PV = 1) pages directly, on its own tables, through
hypercalls 6-10 (vmm/direct.py, after Xen's mmu_update); one that is not (csrw satp) gets
shadow page tables, as under `trap`.

The ABI (the guest side is priv.inc and mmu.inc):

* The shared vCPU page (Xen: the shared info page). The kernel reserves a 4 KiB-aligned page
  and registers its guest-physical address at boot. The VMM also maps that page at the top of
  the guest's address space, 0xFFFFF000 (Xen reserves the top of every address space too), so
  that its upper half is reachable as OFFSET(zero) with offsets -2048..-1: the macros need no
  free register. The shared words start at page + 0x800 (AREA_OFFSET):
      +0 VIF (virtual sstatus.SIE, 0/1)   +4 PENDING (an interrupt waits for VIF = 1)
      +8 SCAUSE  +12 SEPC  +16 STVAL  +20 SPP  +24 SPIE  +28 SSCRATCH
      +32..+44 a0 a1 a6 a7 saved around a hypercall   +48.. scratch for the macros
  Reading scause/sepc/stval/sscratch, writing sepc/sscratch and cli/sti are plain loads and
  stores on it: no exit (the lecture's `cli -> mov [VIF], 0`).
* Hypercalls: `ecall` from virtual S with a7 = EID_PV (0x0A00564D, in the SBI's
  firmware-specific range), a6 = function, arguments a0.., answer a0 = SBI error, a1 = value:
      0 REGISTER_VCPU_PAGE(gpa)      1 SET_TRAP_VECTOR(address)
      2 TRAP_RETURN: the PV sret: resume at SEPC in mode SPP, VIF <- SPIE; it also restores
        a0 a1 a6 a7 from the page (the kernel saved them there: every register is live)
      3 CSR_BATCH(gpa, count): count pairs (csr | funct3 << 12, value), funct3 as in Zicsr
        (1 write, 2 set, 3 clear), for the rare CSRs sie and scounteren; a1 = pairs done
      4 IDLE: the PV wfi          5 EVENT_CHECK: the kernel set VIF = 1 and saw PENDING = 1
      Direct paging (vmkit/vmm/direct.py has the rules; the guest side is mmu.inc with PV = 1):
      6 MMU_UPDATE(gpa, count): count <= 128 pairs (pte gpa, value), all checked, then all
        written; a1 = pairs done (0 or count)
      7 PIN_TABLE(frame gpa, level 1 root / 0 leaf)   8 UNPIN_TABLE(frame gpa)
      9 NEW_BASEPTR(satp): switch to a pinned root (x86: the new_baseptr of mov cr3)
     10 FLUSH_TLB(va or -1, asid or -1): the fence. The guest's ASIDs are its own names: this
        VMM gives a VM two host ASIDs (its kernel view, its user view) and flushes both at
        every NEW_BASEPTR, as Xen PV on x86 without PCID flushes at every CR3 write; so a
        FLUSH_TLB drops the page (or all) from both, more than asked, which a fence may do.
      While the guest pages directly the hart runs on the guest's own root in virtual S and on
      the VMM's user copy of it in virtual U; every page fault is the guest's (reflected); its
      sstatus.SUM is as if set (its kernel reaches every user page, as an x86 PV kernel
      without SMAP). From the first PIN_TABLE on, the vCPU page word at +64 holds machine
      frame - guest frame, as a PTE's PPN field (Xen: the machine-to-physical table): the
      guest's pte_load subtracts it.
  Timer and console stay the standard SBI calls (TIME, DBCN). Bad arguments give an SBI error
  (INVALID_ADDRESS outside guest RAM, INVALID_PARAM, NOT_SUPPORTED for an unknown function,
  DENIED before a page is registered). Until then, and for a kernel that never registers
  (the native build), this engine is exactly `trap`.
* Events (Xen: event channels with a pending flag and a mask): the VMM delivers an interrupt
  in virtual S only when VIF = 1, writing SCAUSE/SEPC/STVAL/SPP/SPIE into the page, setting
  VIF = 0 and jumping to the trap vector; while VIF = 0 it sets PENDING = 1 instead. Guest
  syscalls and exceptions are delivered the same way. A trap taken in virtual S (say in the
  middle of a macro) would clobber the macros' scratch words, so the VMM keeps them across
  it and puts them back at TRAP_RETURN to S (one level deep; Linux's Xen entry code has a
  "critical section fixup" for the same race).

Every hypercall is one exit of kind "hypercall" in the VM's counters (IDLE with nothing to
wake for is a "wfi" exit: the run loop must let guest time pass). A fetch fault at the trap
vector itself stops the VM with a reason: delivering it would fault again, for ever.
"""

import struct

from vmkit.hw.paging import PTE_A, PTE_D, PTE_R, PTE_U, PTE_W
from vmkit.hw.trap import (ECALL_FROM_U, ILLEGAL_INSTRUCTION, INSTRUCTION_ACCESS_FAULT,
                           INSTRUCTION_PAGE_FAULT, SEI, SSI, STI)
from vmkit.isa import decode

from ..direct import MAX_PAIRS, ROOT, DirectPaging, Refused
from ..exits import ExitReason, VmExit
from ..host import HostOutOfMemory
from ..layout import GUEST_RAM
from ..sbi import DENIED, FAILED, INVALID_ADDRESS, INVALID_PARAM, NOT_SUPPORTED, SUCCESS, SbiCall
from .trap import ACCESS, PTE_GUEST, S, U, TrapEngine

EID_PV = 0x0A00564D
(REGISTER_VCPU_PAGE, SET_TRAP_VECTOR, TRAP_RETURN, CSR_BATCH, IDLE, EVENT_CHECK,
 MMU_UPDATE, PIN_TABLE, UNPIN_TABLE, NEW_BASEPTR, FLUSH_TLB) = range(11)

ALIAS = 0xFFFFF000                   # guest-virtual: where the VMM maps the vCPU page too
PTE_SHARED = PTE_R | PTE_W | PTE_U | PTE_A | PTE_D      # data only
AREA_OFFSET = 0x800
VIF, PENDING, SCAUSE, SEPC, STVAL, SPP, SPIE, SSCRATCH = range(0, 32, 4)
SAVED = 32                           # a0 a1 a6 a7
MACHINE_OFFSET = 64                  # machine frame - guest frame, as a PTE's PPN field
SCRATCH = slice(8, 16)               # words 8..15: what a nested trap in virtual S must keep
BATCH_CSRS = (0x104, 0x106)          # sie, scounteren
MAX_BATCH = 64
FETCH_FAULTS = (INSTRUCTION_ACCESS_FAULT, INSTRUCTION_PAGE_FAULT)


class PvEngine(TrapEngine):
    name = "pv"
    title = "paravirtualization: a kernel built to call the VMM (Xen)"
    needs_pv_build = True
    reflection = "writes scause/sepc into the shared page"
    paging_mode = "direct"   # the PV build: direct paging; a native build: shadows, as trap

    def setup(self, entry):
        self.base = None             # direct paging: the guest's current root (gpa), once on
        super().setup(entry)
        self.area = None             # guest-physical address of the shared words, once known
        self.area_mapped = False     # ...and its page is mapped at ALIAS in the shadow table
        self.interrupted_scratch = None
        self.direct = DirectPaging(GUEST_RAM, self.vm.ram_size, self.ram_base - GUEST_RAM,
                                   self._read_word, self._write_word)
        self.base_satp = 0           # the satp value NEW_BASEPTR was given
        self.user_roots = {}         # pinned root (gpa) -> the VMM's user root (host address)
        self.user_asid = None        # the host ASID of the user view, at the first NEW_BASEPTR
        self.vmm_table_split = False  # the VMM's table maps RAM in 4 KiB pages (first pin on)

    # -- the shared page --------------------------------------------------------------------------
    def _words(self):
        return list(struct.unpack("<16I", self.read_guest(self.area, 64)))

    def _store(self, words):
        self.write_guest(self.area, struct.pack("<16I", *words))

    def _word(self, offset):
        return int.from_bytes(self.read_guest(self.area + offset, 4), "little")

    # -- snapshots: which page is shared, and the scratch words a nested trap keeps ----------------
    def save_state(self):
        if self.direct.state.pinned:
            raise ValueError("engine pv: no snapshot while the guest has pinned page tables "
                             "(direct paging's machine frames are this host's)")
        return super().save_state() | {"area": self.area, "scratch": self.interrupted_scratch}

    def load_state(self, state):
        area, scratch = state.get("area"), state.get("scratch")
        if area is not None and (not isinstance(area, int) or area & 0xFFF != AREA_OFFSET
                                 or self.host_address(area - AREA_OFFSET, 4096) is None):
            raise ValueError(f"engine pv: the shared page {area!r} is not a page of guest RAM")
        if scratch is not None and (not isinstance(scratch, list) or len(scratch) != 8 or not
                                    all(isinstance(w, int) and 0 <= w < 1 << 32 for w in scratch)):
            raise ValueError("engine pv: the saved scratch words must be 8 words or null")
        super().load_state(state)
        self.area, self.interrupted_scratch = area, scratch
        self._map_alias(None if area is None else area - AREA_OFFSET)   # as _register maps it

    # -- hypercalls -------------------------------------------------------------------------------
    def trap_exit(self, exit):
        if exit.cause == ECALL_FROM_U and self.vcpu.priv == S and self.hart.x[17] == EID_PV:
            return self.hypercall(SbiCall(self.hart.x))
        if exit.cause in FETCH_FAULTS and self.hart.pc == self.vcpu.stvec & ~3 \
                and self.shadow is None:
            # Delivering this fault would fetch from the same place again, for ever. (On
            # shadow tables it may be a hidden fault: the shadow fills and it goes on.)
            return VmExit(ExitReason.ERROR, message=f"the guest's trap vector "
                                                    f"{self.hart.pc:#010x} cannot be fetched")
        if self.base is not None:
            handled = self._direct_trap(exit)
            if handled is not None:
                return handled
        return super().trap_exit(exit)

    def hypercall(self, call):
        handler = {REGISTER_VCPU_PAGE: self._register, SET_TRAP_VECTOR: self._set_trap_vector,
                   TRAP_RETURN: self._trap_return, CSR_BATCH: self._csr_batch,
                   IDLE: self._idle, EVENT_CHECK: self._event_check,
                   MMU_UPDATE: self._mmu_update, PIN_TABLE: self._pin, UNPIN_TABLE: self._unpin,
                   NEW_BASEPTR: self._new_baseptr, FLUSH_TLB: self._flush_tlb}.get(call.fid)
        if handler is None:
            call.answer(NOT_SUPPORTED)
        elif call.fid != REGISTER_VCPU_PAGE and self.area is None:
            call.answer(DENIED)      # no vCPU page registered yet: nothing to work on
        else:
            kind = handler(call)
            if kind:
                return VmExit(kind)
        self.complete_instruction()
        return VmExit(ExitReason.HYPERCALL)

    def _register(self, call):
        gpa = call.args[0]
        if gpa & 0xFFF:
            return call.answer(INVALID_PARAM)
        if self.host_address(gpa, 4096) is None:
            return call.answer(INVALID_ADDRESS)
        if self.direct.pinned(gpa) is not None:
            return call.answer(DENIED)       # a page table: only the validator writes it
        self.area = gpa + AREA_OFFSET
        vcpu, status = self.vcpu, self.vcpu.mstatus
        self._store([status >> 1 & 1, 0, vcpu.scause, vcpu.sepc, vcpu.stval, status >> 8 & 1,
                     status >> 5 & 1, vcpu.sscratch] + [0] * 8)
        self._map_alias(gpa)
        self.hart.mmu.tlb.flush_vma(ALIAS, self.asid)
        self.hart.translation_changed()
        call.answer(SUCCESS)

    def _map_alias(self, gpa):
        """Show the guest page `gpa` (None: nothing) at ALIAS in the shadow table."""
        if self.area_mapped:
            self.memory.unmap_pages(self.shadow_root, ALIAS, 4096)
        if gpa is not None:
            self.memory.map_pages(self.shadow_root, ALIAS, 4096, self.host_address(gpa),
                                  PTE_SHARED)
        self.area_mapped = gpa is not None

    def _set_trap_vector(self, call):
        address = call.args[0]
        if address & 3 or self.host_address(address, 4) is None:
            return call.answer(INVALID_ADDRESS)
        self.csrs.write(0x105, address)      # direct mode: the vector is 4-byte aligned
        call.answer(SUCCESS)

    def _csr_batch(self, call):
        gpa, count = call.args[0], call.args[1]
        if count > MAX_BATCH:
            return call.answer(INVALID_PARAM)
        data = self.read_guest(gpa, 8 * count)
        if data is None:
            return call.answer(INVALID_ADDRESS)
        pairs = struct.unpack(f"<{2 * count}I", data)
        for done in range(count):
            number, op, value = pairs[2 * done] & 0xFFF, pairs[2 * done] >> 12, pairs[2 * done + 1]
            if number not in BATCH_CSRS or op not in (1, 2, 3):
                return call.answer(INVALID_PARAM, done)
            old = self.csrs.read(number)
            self.csrs.write(number, value if op == 1 else old | value if op == 2
                            else old & ~value)
        self._privilege_changed()            # scounteren may have changed
        call.answer(SUCCESS, count)

    def _idle(self, call):
        call.answer(SUCCESS)
        if not self.vcpu.read_mip() & self.vcpu.mie:
            self.complete_instruction()
            return ExitReason.WFI                     # nothing to wake for: let guest time pass
        return None

    def _event_check(self, call):
        call.answer(SUCCESS)
        self.complete_instruction()
        if not self._inject_interrupt():     # nothing was waiting after all
            self.write_guest(self.area + PENDING, bytes(4))
        return ExitReason.HYPERCALL

    def _trap_return(self, call):
        """The PV sret (x86: Xen's iret hypercall, which also restores registers)."""
        vcpu, hart = self.vcpu, self.hart
        words = self._words()
        vcpu.priv = S if words[SPP // 4] else U
        words[VIF // 4], words[SPIE // 4], words[SPP // 4] = words[SPIE // 4], 1, 0
        for index, register in enumerate((10, 11, 16, 17)):
            hart.x[register] = words[SAVED // 4 + index]
        if vcpu.priv == S and self.interrupted_scratch is not None:
            words[SCRATCH] = self.interrupted_scratch
            self.interrupted_scratch = None
        self._store(words)
        # SEPC is a plain word here, but sepc is WARL: with IALIGN=32 its bits 1:0 read as 0
        # (privileged spec 4.1.7), so sret goes to SEPC & ~3, as on the other engines.
        hart.pc = words[SEPC // 4] & ~3
        hart.retire(1)
        self.vm.counters.emulated(1)
        self._privilege_changed()
        return ExitReason.HYPERCALL           # done: no answer, and pc is already where to go on

    # -- direct paging (vmm/direct.py) ------------------------------------------------------------
    def _read_word(self, gpa):
        return int.from_bytes(self.memory.read(gpa, 4), "little")

    def _write_word(self, gpa, value):
        """The validator's store into a page table (write_guest refuses those frames)."""
        self.memory.write(gpa, value.to_bytes(4, "little"))
        self.guest_memory_written(gpa, 4)

    def write_guest(self, gpa, data):
        """Guest RAM, but never a pinned page table: the VMM's own services (the SBI console
        read, a test poking RAM) must not write what only the validator may."""
        direct = getattr(self, "direct", None)          # (None while the guest is loaded)
        if direct is not None and any(direct.pinned(page) is not None
                                      for page in range(gpa & ~0xFFF, gpa + len(data), 4096)):
            return False
        return super().write_guest(gpa, data)

    def _mmu_update(self, call):
        gpa, count = call.args[0], call.args[1]
        if count > MAX_PAIRS:
            self.direct.stats["pt_validations_refused"] += 1
            return call.answer(INVALID_PARAM, 0)
        data = self.read_guest(gpa, 8 * count)
        if data is None or gpa & 3:
            self.direct.stats["pt_validations_refused"] += 1
            return call.answer(INVALID_ADDRESS, 0)
        words = struct.unpack(f"<{2 * count}I", data)
        try:
            roots = self.direct.mmu_update(list(zip(words[0::2], words[1::2])))
        except Refused as refused:
            return call.answer(refused.error, 0)
        for root, index, value in roots:         # the user roots follow their roots
            self.machine.bus.store(self.user_roots[root] + 4 * index, 4, value)
        self.hart.translation_changed()
        call.answer(SUCCESS, count)

    def _pin(self, call):
        frame, level = call.args[0], call.args[1]
        if self.area is not None and frame == self.area - AREA_OFFSET:
            self.direct.stats["pt_validations_refused"] += 1
            return call.answer(DENIED)           # the VMM writes the vCPU page itself
        try:
            if not self.vmm_table_split:
                self._split_vmm_table()
            self.direct.pin(frame, level)
        except Refused as refused:
            return call.answer(refused.error)
        except HostOutOfMemory:
            return call.answer(FAILED)
        if level == ROOT:
            try:
                user_root = self.memory.new_root()
            except HostOutOfMemory:              # the table pool is full: take it back
                self.direct.unpin(frame, self.base)
                return call.answer(FAILED)
            self.user_roots[frame] = user_root
            for index, value in self.direct.user_entries(frame):
                self.machine.bus.store(user_root + 4 * index, 4, value)
        self._vmm_table_writable(frame, False)
        # The frame offset the guest's pte_load needs, from its first table on (written only
        # then: it depends on where this host put the RAM, and a guest that never pages
        # directly must see the same RAM on every host).
        self.write_guest(self.area + MACHINE_OFFSET,
                         (self.direct.offset >> 12 << 10 & 0xFFFFFFFF).to_bytes(4, "little"))
        # A TLB entry may still map the frame writable (the guest dropped W without a fence):
        # it must not outlive the pin (Xen flushes on a page's type change too).
        self._flush(None)
        call.answer(SUCCESS)

    def _unpin(self, call):
        frame = call.args[0]
        try:
            self.direct.unpin(frame, self.base)
        except Refused as refused:
            return call.answer(refused.error)
        user_root = self.user_roots.pop(frame, None)
        if user_root is not None:
            self.memory.roots.pop(user_root, None)
            self.memory.tables.free(user_root)
        self._vmm_table_writable(frame, True)
        call.answer(SUCCESS)

    def _new_baseptr(self, call):
        satp = call.args[0]
        if self.vcpu.satp >> 31:
            self.direct.stats["pt_validations_refused"] += 1
            return call.answer(DENIED)           # it turned on paging with csrw satp: shadows
        try:
            root = self.direct.check_root(satp)
        except Refused as refused:
            return call.answer(refused.error)
        if self.user_asid is None:
            try:
                self.user_asid = self.host.asids.alloc()
            except ValueError:                   # the host's ASIDs are all in use
                return call.answer(FAILED)
        self.base, self.base_satp = root, satp
        self._flush(None)
        self._privilege_changed()
        call.answer(SUCCESS)

    def _flush_tlb(self, call):
        va = call.args[0]
        self._flush(None if va == 0xFFFFFFFF else va)
        call.answer(SUCCESS)

    def _flush(self, va):
        for asid in (self.asid, self.user_asid):
            if asid is not None:
                self.hart.mmu.tlb.flush_vma(va, asid)
        self.hart.translation_changed()

    def _split_vmm_table(self):
        """Before its paging is on the guest runs on the VMM's table, which maps its RAM in
        4 MiB pages: remap it in 4 KiB pages, so that a pinned frame can be read-only."""
        size = self.memory.region("ram").size
        self.memory.unmap_pages(self.shadow_root, GUEST_RAM, size)
        self.memory.map_pages(self.shadow_root, GUEST_RAM, size, self.ram_base, PTE_GUEST)
        self.vmm_table_split = True

    def _vmm_table_writable(self, frame, writable):
        self.memory.unmap_pages(self.shadow_root, frame, 4096)
        self.memory.map_pages(self.shadow_root, frame, 4096, self.host_address(frame),
                              PTE_GUEST if writable else PTE_GUEST & ~PTE_W)
        self.hart.mmu.tlb.flush_vma(frame, self.asid)

    def _privilege_changed(self):
        if self.base is None:
            return super()._privilege_changed()
        hart, vcpu = self.hart, self.vcpu
        hart.scounteren = 0b111 if vcpu.priv == S else vcpu.scounteren
        if vcpu.priv == S:                       # the guest's own root, in host frames
            hart.satp = 1 << 31 | self.asid << 22 | self.direct.machine(self.base) >> 12
        else:
            hart.satp = 1 << 31 | self.user_asid << 22 | self.user_roots[self.base] >> 12
        hart.translation_changed()

    def _direct_trap(self, exit):
        """A trap while the guest pages directly: its page faults are its own; a csrw satp
        would bypass the validator."""
        if exit.cause in ACCESS:
            self.reflect(exit.cause, exit.tval)
            return VmExit(ExitReason.EXCEPTION)
        row, ops = decode(exit.tval, aliases=False)
        if exit.cause == ILLEGAL_INSTRUCTION and self.vcpu.priv == S and row is not None \
                and row.name.startswith("csrr") and ops["E"] == 0x180:
            return VmExit(ExitReason.ERROR, message="the pv engine: this kernel pages "
                          "directly, so it switches address spaces with NEW_BASEPTR, not "
                          "csrw satp")
        return None

    def statistics(self):
        return super().statistics() | self.direct.stats

    # -- delivering traps and interrupts through the page -----------------------------------------
    def reflect(self, cause, tval, interrupt=False):
        if self.area is None:                # not (yet) a PV kernel: exactly like `trap`
            return super().reflect(cause, tval, interrupt)
        vcpu, hart = self.vcpu, self.hart
        words = self._words()
        if vcpu.priv == S:
            self.interrupted_scratch = words[SCRATCH]
        words[:8] = [0, 0 if interrupt else words[PENDING // 4],
                     cause | (1 << 31 if interrupt else 0), hart.pc, tval,
                     int(vcpu.priv == S), words[VIF // 4], words[SSCRATCH // 4]]
        self._store(words)
        vcpu.priv = S
        base = vcpu.stvec & ~3
        hart.pc = base + 4 * cause if interrupt and vcpu.stvec & 1 else base
        self._privilege_changed()

    def _inject_interrupt(self):
        if self.area is None:
            return super()._inject_interrupt()
        vcpu = self.vcpu
        pending = vcpu.read_mip() & vcpu.mie
        if not pending:
            return False
        if vcpu.priv == S and not self._word(VIF):
            if not self._word(PENDING):
                self.write_guest(self.area + PENDING, (1).to_bytes(4, "little"))
            return False
        code = next(c for c in (SEI, SSI, STI) if pending >> c & 1)   # spec 3.1.9 priority
        self.reflect(code, 0, interrupt=True)
        return True

    def read_supervisor_csr(self, number):
        """The guest's supervisor CSRs: those that live in the shared page come from there."""
        if self.area is None:
            return super().read_supervisor_csr(number)
        words = self._words()
        fields = {0x140: SSCRATCH, 0x141: SEPC, 0x142: SCAUSE, 0x143: STVAL}
        if number == 0x180 and self.base is not None:
            return self.base_satp                # what the guest gave NEW_BASEPTR
        if number in fields:
            return words[fields[number] // 4] & (~3 if number == 0x141 else ~0)
        value = super().read_supervisor_csr(number)
        if number == 0x100:                  # sstatus: SIE, SPIE and SPP are in the page
            value = (value & ~0x122 | words[VIF // 4] << 1 | words[SPIE // 4] << 5
                     | words[SPP // 4] << 8)
        return value
