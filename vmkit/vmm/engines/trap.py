"""`trap`: trap-and-emulate. The guest kernel runs directly on the host hart, but deprivileged:
its (virtual) S-mode code runs in real U-mode. Every privileged instruction it executes
(csrr sstatus, csrw stvec, sret, wfi, sfence.vma) is illegal in U-mode, so it traps to the
VMM, which decodes it and performs it on the vCPU record below: the guest's *virtual*
supervisor state. The guest's own traps (its syscalls, faults) and its timer interrupts also
arrive at the VMM first, which reflects them into the guest as the hardware would have.

This works because RISC-V is classically virtualizable (Popek & Goldberg, 1974): every
sensitive instruction is privileged, so it traps when run deprivileged. x86 before VT-x was
not (POPF silently ignores IF in ring 3), which is why VMware needed binary translation.

Memory: guest RAM lives elsewhere in host-physical memory; a VMM-owned page table maps
guest-physical -> host-physical for the (real) U-mode guest and maps nothing else, so a guest
access to its UART page faults into the VMM (emulated I/O) and it can reach no other memory.
With the guest's own paging off this table is the whole shadow page table. When the guest
turns paging on (satp), the hart runs on shadow page tables instead (vmkit/vmm/shadow.py):
a page fault is then hidden (the VMM fills the shadow) or true (reflected into the guest),
a guest satp write switches shadows (x86: `mov cr3` -> HANDLE_CR3) and sfence.vma
invalidates them.
"""

from vmkit.hw import csr as C
from vmkit.hw.csr import CsrFile
from vmkit.hw.mmu import FETCH, LOAD, SATP_MODE, STATUS_MXR, STATUS_SUM, STORE
from vmkit.hw.paging import PTE_A, PTE_D, PTE_R, PTE_U, PTE_W, PTE_X, SV32
from vmkit.hw.state import load_plain_state, plain_state
from vmkit.hw.trap import (ECALL_FROM_U, ILLEGAL_INSTRUCTION, INSTRUCTION_ACCESS_FAULT,
                           INSTRUCTION_PAGE_FAULT, INTERRUPT_BIT, LOAD_PAGE_FAULT, SEI, SSI, STI,
                           STORE_PAGE_FAULT, Trap)
from vmkit.isa import decode

from ..exits import ExitReason, VmExit
from ..shadow import ShadowTables, view_key
from .base import PMP_RWX, HartEngine, guest_pmp
from .engine import SUPERVISOR_CSRS

S, U = 1, 0
ACCESS = {INSTRUCTION_PAGE_FAULT: FETCH, LOAD_PAGE_FAULT: LOAD, STORE_PAGE_FAULT: STORE}
# A user page, already accessed and dirty (the walker may only read the table pool).
PTE_GUEST = PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D


class VirtualSupervisor:
    """The vCPU record: the guest's virtual S-mode state, shaped like a hart's CSR attributes
    so that the very same CSR code (vmkit/hw/csr.py) gives the guest the same WARL answers
    as real hardware would."""

    def __init__(self):
        self.priv = S                # the guest's virtual privilege
        self.mstatus = 0             # only its sstatus bits are used
        self.mie = self.mip_soft = 0
        self.mideleg = C.S_INTERRUPTS
        self.stvec = self.sscratch = self.sepc = self.scause = self.stval = 0
        self.scounteren = self.satp = self.senvcfg = 0
        self.timer_pending = False
        self.external_pending = False  # the guest PLIC's S-context line (vmm/irq.py)

    def read_mip(self):
        return (self.mip_soft | (C.STIP if self.timer_pending else 0)
                | (C.SEIP if self.external_pending else 0))

    def translation_changed(self):
        pass                         # the engine looks at satp and sstatus after each write


class SretState:
    """What an emulation of `sret` may read and must update (homework 1): the virtual sstatus
    (bits SIE=1, SPIE=5, SPP=8), the virtual privilege (1 = S, 0 = U), sepc, and the guest pc."""

    def __init__(self, sstatus, priv, sepc, pc):
        self.sstatus, self.priv, self.sepc, self.pc = sstatus, priv, sepc, pc


class TrapEngine(HartEngine):
    name = "trap"
    title = "trap-and-emulate: the kernel in U-mode, privileged instructions trap"
    deprivileged = True
    vmm_owned = HartEngine.vmm_owned + ("satp",)          # shadow table (set on load, too)
    guest_modes = frozenset({(U, False)})                  # virtual S and U both run in U
    paging_mode = "shadow"            # shadow page tables (vmm/shadow.py)
    table_pool = 32                   # the shadows' frames (one PMP entry)
    # Homework hook: a student's emulation of sret, called with an `SretState` (see _sret).
    student_sret = None

    def setup(self, entry):
        hart = self.hart
        self.vcpu = VirtualSupervisor()
        self.csrs = CsrFile(self.vcpu)
        # The VMM's page table for the guest: guest RAM at its guest-physical addresses, in
        # 4 MiB leaves, and nothing else; tagged in the TLB with an ASID the host gave us.
        self.shadow_root = self.memory.new_root(SV32)
        self.memory.map_region(self.shadow_root, "ram", PTE_GUEST)
        self.asid = self.host.asids.alloc()
        guest_pmp(hart, [(self.ram_base, self.vm.ram_size, PMP_RWX), self.table_pmp()])
        self.shadow_satp = 1 << 31 | self.asid << 22 | self.shadow_root >> 12      # Sv32
        hart.satp = self.shadow_satp
        self.shadows = ShadowTables(self.memory, self.read_guest, self.write_guest,
                                    self.host_address, self.host.asids, self._flush_asid)
        self.shadow = None                    # the shadow in use: None while paging is off
        hart.medeleg = hart.mideleg = 0       # every guest trap comes to the VMM first
        hart.mcounteren = 0b111
        hart.intercept = {"M"}
        hart.priv, hart.virt = U, False       # deprivileged: virtual S runs in real U
        hart.pc = entry
        hart.x[10] = 0
        self._privilege_changed()

    def _privilege_changed(self):
        # Counters: virtual S may read them (mcounteren); virtual U only what the guest's own
        # scounteren allows, so the real scounteren follows the virtual privilege.
        self.hart.scounteren = 0b111 if self.vcpu.priv == S else self.vcpu.scounteren
        self._switch_shadow()
        self.hart.translation_changed()

    # -- shadow paging (vmm/shadow.py) ---------------------------------------------------------
    def _switch_shadow(self):
        """Put the shadow for the guest's satp and view (privilege, SUM, MXR) on the hart.
        A shadow has a host ASID of its own: a switch flushes nothing on a tagged TLB. The
        VMM's ASID, which its identity table (paging off) and any shadow without an ASID of
        its own share, is flushed on a switch to it."""
        vcpu, hart, before = self.vcpu, self.hart, self.shadow
        if vcpu.satp & SATP_MODE:
            self.shadow = self.shadows.get(view_key(vcpu.satp, vcpu.priv == U, vcpu.mstatus))
            asid = self.shadow_asid()
            satp = 1 << 31 | asid << 22 | self.shadow.root >> 12
        else:
            self.shadow, asid, satp = None, self.asid, self.shadow_satp
        # (Not only when satp changes: a new shadow may get the root frame of an evicted one.)
        if hart.satp != satp or self.shadow is not before:
            hart.satp = satp
            if asid == self.asid:
                hart.mmu.tlb.flush_vma(asid=self.asid)

    def shadow_asid(self):
        """The host ASID the current shadow's translations are tagged with."""
        return self.shadow.asid if self.shadow.asid is not None else self.asid

    def _flush_asid(self, vaddr, asid):
        self.hart.mmu.tlb.flush_vma(vaddr, asid)
        self.hart.translation_changed()

    def _shadow_fault(self, cause, vaddr):
        """A page fault while the guest pages: hidden (fill the shadow, resume), true (reflect
        it), or an access to a device mapped by the guest's table (MMIO)."""
        vcpu, stats = self.vcpu, self.shadows.stats
        user, status = vcpu.priv == U, vcpu.mstatus
        evictions = stats["shadow_evictions"]
        try:
            gpa = self.shadows.fill(self.shadow, vcpu.satp, vaddr, ACCESS[cause], user,
                                    status & STATUS_SUM, status & STATUS_MXR)
        except Trap as trap:
            stats["true_faults"] += 1
            self.reflect(trap.cause, trap.tval)
            return VmExit(ExitReason.EXCEPTION)
        if self.host_address(gpa) is not None:
            stats["hidden_faults"] += 1
            # An upgraded leaf; or the pool ran dry and this shadow started over.
            self.hart.mmu.tlb.flush_vma(None if stats["shadow_evictions"] != evictions
                                        else vaddr, self.shadow_asid())
            self.hart.translation_changed()
            return VmExit(ExitReason.PAGE_FAULT)
        if cause == INSTRUCTION_PAGE_FAULT:        # no code outside RAM (PMP: no X)
            self.reflect(INSTRUCTION_ACCESS_FAULT, vaddr)
            return VmExit(ExitReason.EXCEPTION)
        return VmExit(ExitReason.MMIO, gpa=gpa, word=self.instruction_at_pc())

    def statistics(self):
        # (pv reports direct paging's counters instead: vmm/direct.py)
        return dict(self.shadows.stats) if self.paging_mode == "shadow" else {}

    # -- entering the guest --------------------------------------------------------------------
    def enter(self, budget):
        if self._inject_interrupt():
            return VmExit(ExitReason.INTERRUPT)
        return super().enter(budget)

    def trap_exit(self, exit):
        """A guest trap reached the VMM: emulate, serve or reflect it."""
        cause, tval, vcpu = exit.cause, exit.tval, self.vcpu
        if cause == ECALL_FROM_U:
            if vcpu.priv == S:
                return VmExit(ExitReason.SBI)
            self.reflect(ECALL_FROM_U, 0)           # the guest's own syscall
            return VmExit(ExitReason.ECALL)
        if cause == ILLEGAL_INSTRUCTION and vcpu.priv == S:
            return self.emulate_privileged(tval)
        if cause in ACCESS and self.shadow is not None:
            return self._shadow_fault(cause, tval)
        if cause in (LOAD_PAGE_FAULT, STORE_PAGE_FAULT):
            # Nothing but guest RAM is mapped: the guest touched a device (or nothing).
            return VmExit(ExitReason.MMIO, gpa=tval, word=self.instruction_at_pc())
        if cause == INSTRUCTION_PAGE_FAULT:
            # A jump outside guest RAM (its paging is off): on a real board that is an
            # instruction access fault; the page fault is only our shadow table's doing.
            cause = INSTRUCTION_ACCESS_FAULT
        self.reflect(cause, tval)
        return VmExit(ExitReason.EXCEPTION)

    # -- trap-and-emulate of the privileged instructions ------------------------------------------
    def emulate_privileged(self, word):
        row, ops = decode(word, aliases=False)
        name = row.name if row is not None else ""
        if name.startswith("csrr"):
            return self._emulate_csr(name, ops, word)
        if name == "sret":
            self._sret()
            return VmExit(ExitReason.ILLEGAL_INSTRUCTION)
        if name == "wfi":
            self.complete_instruction()
            if self.vcpu.read_mip() & self.vcpu.mie:
                return VmExit(ExitReason.ILLEGAL_INSTRUCTION)
            return VmExit(ExitReason.WFI)
        if name == "sfence.vma":
            x = self.hart.x
            self.shadows.fence(x[ops["s"]] if ops["s"] else None,
                               x[ops["t"]] & 0x1FF if ops["t"] else None)
            self.complete_instruction()
            self.hart.mmu.tlb.flush_vma(asid=self.asid)
            self._privilege_changed()               # the current shadow may be gone
            return VmExit(ExitReason.ILLEGAL_INSTRUCTION)
        self.reflect(ILLEGAL_INSTRUCTION, word)     # mret, H instructions, M CSRs: illegal
        return VmExit(ExitReason.EXCEPTION)

    def _emulate_csr(self, name, ops, word):
        x = self.hart.x
        number, rd = ops["E"], ops["d"]
        immediate = name.endswith("i")
        source = ops["Z"] if immediate else ops["s"]
        value = source if immediate else x[source]
        kind = name[4]                              # csrr[w|s|c][i]
        writes = kind == "w" or source != 0
        if number not in SUPERVISOR_CSRS or (number >> 10 == 3 and writes):
            self.reflect(ILLEGAL_INSTRUCTION, word)
            return VmExit(ExitReason.EXCEPTION)
        if number == 0x180 and writes and value & (1 << 31) and kind != "c" \
                and self.paging_mode is None:
            self.paging_refused = True
            return VmExit(ExitReason.ERROR, message=f"the {self.name} engine does not yet "
                                                    "virtualize guest paging (satp); use hw")
        old = self.csrs.read(number)
        if writes:
            new = value if kind == "w" else old | value if kind == "s" else old & ~value
            self.csrs.write(number, new)
        if rd:
            x[rd] = old
        self.complete_instruction()
        if writes and number == 0x180 and new != old:
            self.shadows.stats["shadow_switches"] += 1      # HANDLE_CR3
        if writes and number in (0x100, 0x106, 0x180):    # SUM, MXR; scounteren; satp
            self._privilege_changed()
        return VmExit(ExitReason.ILLEGAL_INSTRUCTION)

    def _sret(self):
        vcpu, hart = self.vcpu, self.hart
        if self.student_sret is not None:
            state = SretState(vcpu.mstatus, vcpu.priv, vcpu.sepc, hart.pc)
            self.student_sret(state)
            vcpu.mstatus, vcpu.priv, hart.pc = state.sstatus, state.priv, state.pc
        else:
            status = vcpu.mstatus
            vcpu.priv = S if status & C.SPP else U
            status = status & ~C.SIE | (C.SIE if status & C.SPIE else 0)
            vcpu.mstatus = (status | C.SPIE) & ~C.SPP
            hart.pc = vcpu.sepc
        hart.retire(1)
        self.vm.counters.emulated(1)
        self._privilege_changed()

    # -- reflecting traps and interrupts into the guest -------------------------------------------
    def reflect(self, cause, tval, interrupt=False):
        """Deliver a trap to the guest kernel: what hardware does on a trap to S-mode."""
        vcpu, hart = self.vcpu, self.hart
        vcpu.scause = cause | (INTERRUPT_BIT if interrupt else 0)
        vcpu.sepc, vcpu.stval = hart.pc, tval
        status = vcpu.mstatus
        status = status & ~C.SPIE | (C.SPIE if status & C.SIE else 0)
        vcpu.mstatus = status & ~(C.SIE | C.SPP) | (C.SPP if vcpu.priv == S else 0)
        vcpu.priv = S
        base = vcpu.stvec & ~3
        hart.pc = base + 4 * cause if interrupt and vcpu.stvec & 1 else base
        self._privilege_changed()

    def _inject_interrupt(self):
        vcpu = self.vcpu
        pending = vcpu.read_mip() & vcpu.mie
        if not pending or (vcpu.priv == S and not vcpu.mstatus & C.SIE):
            return False
        for code in (SEI, SSI, STI):                # priority order of the spec (3.1.9)
            if pending >> code & 1:
                self.reflect(code, 0, interrupt=True)
                return True
        return False

    # -- snapshots: the vCPU record is guest state ------------------------------------------------
    def save_state(self):
        return super().save_state() | {"vcpu": plain_state(self.vcpu)}

    def load_state(self, state):
        super().load_state(state)
        load_plain_state(self.vcpu, state.get("vcpu"), f"engine {self.name}: vcpu")
        self.shadows.clear()           # a cache of the guest's tables: RAM may differ now
        self._privilege_changed()      # what the hart gets for the virtual privilege (bt: satp)

    def read_supervisor_csr(self, number):
        return self.csrs.read(number)

    def guest_privilege(self):
        return self.vcpu.priv

    def inject(self, trap):
        self.reflect(trap.cause, trap.tval)

    def set_timer_pending(self, pending):
        self.vcpu.timer_pending = pending

    def set_external_pending(self, pending):
        self.vcpu.external_pending = pending      # bt: its PENDING word follows (_sync_out)

    def timer_enabled(self):
        return bool(self.vcpu.mie & C.STIP)
