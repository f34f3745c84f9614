"""`hw`: hardware-assisted virtualization with the H extension (x86: VT-x/AMD-V with EPT/NPT).

The guest kernel runs in VS-mode, its programs in VU-mode. Its CSR accesses hit the VS copies
of the supervisor CSRs in hardware, its own traps (syscalls, page faults) are delegated straight
to it (hedeleg/hideleg), and its memory goes through the G-stage page table (hgatp) the VMM
built: guest-physical 0x8000_0000.. maps to a host-physical region elsewhere, and nothing else
is mapped. So the guest exits to the VMM (HS-mode, here Python) only for:

* ecall from VS-mode (cause 10)        -> an SBI call (x86: VMCALL)
* guest-page faults (causes 20/21/23)  -> an access outside its RAM: the emulated UART (MMIO)
* virtual instruction (cause 22)       -> a hypervisor-only instruction: illegal for the guest
* wfi with nothing pending             -> the VMM lets guest time pass

Nested paging (x86: AMD RVI / Intel EPT): a guest that turns on its own paging (vsatp) has its
page tables walked by the hardware through the G-stage, the "2D walk": each VS-stage PTE
address is guest-physical and needs a G-stage walk before it is read. The VMM's G-stage leaves
are 4 MiB megapages by default, or 4 KiB pages (`VirtualMachine(..., gstage_page=4096)`), so a
TLB miss on a 4 KiB guest page costs (2+1)x(1+1)-1 = 5 or (2+1)x(2+1)-1 = 8 PTE reads against
2 natively (counted by the MMU: vm.counters, walk_references_vs/_g/_2d; tests/
test_nested_paging.py), and a TLB entry covers no more than the smaller of the two pages.

Source: RISC-V privileged spec 20211203, chapter 8; Bhargava et al., "Accelerating
two-dimensional page walks for virtualized systems", ASPLOS 2008 (the 2D walk and its cost).
"""

from vmkit.hw import csr as C
from vmkit.hw.trap import (ECALL_FROM_VS, INSTRUCTION_ACCESS_FAULT, INSTRUCTION_GUEST_PAGE_FAULT,
                           LOAD_GUEST_PAGE_FAULT, STORE_GUEST_PAGE_FAULT, VIRTUAL_INSTRUCTION,
                           Trap)

from vmkit.hw.paging import PTE_A, PTE_D, PTE_R, PTE_U, PTE_W, PTE_X, SV32X4

from ..exits import ExitReason, VmExit
from ..host import FRAME
from ..layout import GUEST_RAM
from ..memory import MEGAPAGE
from .base import PMP_RW, PMP_RWX, HartEngine, guest_pmp

# Guest-internal exceptions go straight to the guest kernel (VS-mode) ...
TO_GUEST = sum(1 << c for c in (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 15))
# ... and these stop at HS-mode, where the VMM intercepts them.
TO_VMM = sum(1 << c for c in (10, 20, 21, 22, 23))
# A G-stage leaf: U as the G-stage requires; A and D already set, as the walker's PMP grant
# on the table pool is read-only.
G_LEAF = PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D


class HwEngine(HartEngine):
    name = "hw"
    title = "hardware assistance: VS-mode and G-stage paging (x86: VT-x + EPT)"
    has_vm_exits = True
    paging_mode = "nested"             # VS-stage (the guest's) + G-stage (the VMM's) walks
    vmm_owned = HartEngine.vmm_owned + ("hedeleg", "hideleg", "hcounteren", "hgatp")
    guest_modes = frozenset({(1, True), (0, True)})        # VS and VU
    gstage_pages = (MEGAPAGE, FRAME)
    # The 16 KiB Sv32x4 root, and a leaf table per 4 MiB of guest RAM (MAX_GUEST_RAM: 4).
    table_pool = 8

    def setup(self, entry):
        hart = self.hart
        # The G-stage (x86: the EPT): guest RAM in leaves of the chosen size, from a root the
        # host gave us, tagged in the TLB with a VMID the host gave us.
        root = self.memory.new_root(SV32X4)
        ram = self.memory.region("ram")
        self.memory.map_pages(root, GUEST_RAM, ram.size, ram.frames[0], G_LEAF,
                              page=self.vm.gstage_page)
        self.vmid = self.host.vmids.alloc()
        self.gstage_root = root
        self.pmp_entries = [(self.ram_base, self.vm.ram_size, PMP_RWX), self.table_pmp()]
        guest_pmp(hart, self.pmp_entries)
        hart.medeleg = TO_GUEST | TO_VMM
        hart.hedeleg = TO_GUEST
        hart.mideleg = C.S_INTERRUPTS
        hart.hideleg = C.VS_INTERRUPTS
        hart.mcounteren = hart.hcounteren = 0b111
        hart.hgatp = 1 << 31 | self.vmid << 22 | root >> 12
        hart.hstatus = C.HSTATUS_SPVP
        hart.intercept = {"HS", "M"}
        hart.priv, hart.virt = 1, True        # as `sret` with hstatus.SPV=1 would leave it
        hart.pc = entry
        hart.x[10] = 0
        hart.translation_changed()

    def map_device(self, gpa, hpa, size):
        """An assigned device's registers in the G-stage (no X: no code runs from a device),
        and a PMP entry that lets the guest's accesses through to the bus (two such: guest RAM
        and the table pool take 2 of pmpcfg0's 4 entries)."""
        if len(self.pmp_entries) == 4:
            raise ValueError("hw maps at most 2 assigned devices into a VM (PMP entries)")
        self.activate()
        self.memory.map_pages(self.gstage_root, gpa, size, hpa, G_LEAF & ~PTE_X)
        self.pmp_entries.append((hpa, size, PMP_RW))
        guest_pmp(self.hart, self.pmp_entries)
        self.hart.translation_changed()
        return True

    def trap_exit(self, exit):
        if exit.cause == ECALL_FROM_VS:
            return VmExit(ExitReason.SBI)
        if exit.cause in (LOAD_GUEST_PAGE_FAULT, STORE_GUEST_PAGE_FAULT):
            try:
                word = self.instruction_at_pc()
            except Trap as trap:
                return VmExit(ExitReason.ERROR,
                              message=f"cannot read the faulting instruction: {trap}")
            return VmExit(ExitReason.MMIO, gpa=exit.gpa, word=word)
        if exit.cause == INSTRUCTION_GUEST_PAGE_FAULT:
            # A jump outside guest RAM: on a real board that is an instruction access fault.
            return VmExit(ExitReason.FAULT, trap=Trap(INSTRUCTION_ACCESS_FAULT, exit.tval))
        if exit.cause == VIRTUAL_INSTRUCTION:
            return VmExit(ExitReason.VIRTUAL_INSTRUCTION, word=exit.tval)
        return VmExit(ExitReason.ERROR, message=f"unexpected exit: {exit.describe()}")

    def read_supervisor_csr(self, number):
        # The guest's supervisor CSRs are the hart's VS copies (vsstatus for sstatus, ...).
        return self.hart.csrs.read(self.hart.csrs.REDIRECT.get(number, number))

    def set_timer_pending(self, pending):
        # The hypervisor injects the guest's timer interrupt through hvip.VSTIP.
        hart = self.hart
        hart.hvip = hart.hvip | C.VSTIP if pending else hart.hvip & ~C.VSTIP

    def timer_enabled(self):
        return bool(self.hart.mie & C.VSTIP)

    def set_external_pending(self, pending):
        # ... and its external interrupt through hvip.VSEIP (x86: event injection of a vector).
        # A device may raise it between runs, while another VM is on the hart: ours first.
        self.activate()
        hart = self.hart
        hart.hvip = hart.hvip | C.VSEIP if pending else hart.hvip & ~C.VSEIP
