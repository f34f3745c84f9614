"""Trap causes and the `Trap` signal the hart uses internally.

A `Trap` is raised inside one instruction's execution (by the MMU, PMP, a CSR access, an
illegal encoding) and caught by the hart's step loop, which delivers it to M, HS or VS mode as
the privileged spec says. It never leaves `Hart.run()`.

x86 names beside the RISC-V ones, for the lecture: an exception is a "fault/trap" (#PF is a
page fault, #UD an illegal instruction, #GP a protection fault); a guest-page fault is an
"EPT violation"; a virtual-instruction exception is a "VM exit" on a sensitive instruction.

Source: RISC-V privileged spec 20211203, table 3.6 (mcause values) and section 8.6.
"""

# Exception codes (mcause with the interrupt bit clear).
INSTRUCTION_MISALIGNED = 0
INSTRUCTION_ACCESS_FAULT = 1
ILLEGAL_INSTRUCTION = 2
BREAKPOINT = 3
LOAD_MISALIGNED = 4
LOAD_ACCESS_FAULT = 5
STORE_MISALIGNED = 6             # also AMO
STORE_ACCESS_FAULT = 7
ECALL_FROM_U = 8                 # from U or VU
ECALL_FROM_S = 9                 # from HS
ECALL_FROM_VS = 10
ECALL_FROM_M = 11
INSTRUCTION_PAGE_FAULT = 12
LOAD_PAGE_FAULT = 13
STORE_PAGE_FAULT = 15
INSTRUCTION_GUEST_PAGE_FAULT = 20
LOAD_GUEST_PAGE_FAULT = 21
VIRTUAL_INSTRUCTION = 22
STORE_GUEST_PAGE_FAULT = 23

EXCEPTION_NAMES = {
    0: "instruction address misaligned", 1: "instruction access fault",
    2: "illegal instruction", 3: "breakpoint", 4: "load address misaligned",
    5: "load access fault", 6: "store/AMO address misaligned", 7: "store/AMO access fault",
    8: "environment call from U/VU-mode", 9: "environment call from HS-mode",
    10: "environment call from VS-mode", 11: "environment call from M-mode",
    12: "instruction page fault", 13: "load page fault", 15: "store/AMO page fault",
    20: "instruction guest-page fault", 21: "load guest-page fault",
    22: "virtual instruction", 23: "store/AMO guest-page fault",
}

# Interrupt codes (mcause with the interrupt bit set) = bit numbers in mip/mie.
SSI, VSSI, MSI = 1, 2, 3          # software interrupts
STI, VSTI, MTI = 5, 6, 7          # timer interrupts
SEI, VSEI, MEI = 9, 10, 11        # external interrupts
SGEI = 12                         # supervisor guest external interrupt

INTERRUPT_NAMES = {
    1: "supervisor software", 2: "virtual supervisor software", 3: "machine software",
    5: "supervisor timer", 6: "virtual supervisor timer", 7: "machine timer",
    9: "supervisor external", 10: "virtual supervisor external", 11: "machine external",
    12: "supervisor guest external",
}

INTERRUPT_BIT = 1 << 31


def cause_name(cause: int) -> str:
    if cause & INTERRUPT_BIT:
        return INTERRUPT_NAMES.get(cause & ~INTERRUPT_BIT, "unknown") + " interrupt"
    return EXCEPTION_NAMES.get(cause, "reserved")


class Trap(Exception):
    """A synchronous exception raised while executing one instruction.

    cause  - exception code (table above)
    tval   - the value for mtval/stval/vstval (faulting address, or instruction bits)
    gpa    - guest-physical address for guest-page faults (goes to htval/mtval2 as gpa >> 2)
    gva    - whether tval holds a guest virtual address (sets hstatus.GVA / mstatus.GVA)
    tinst  - transformed instruction for htinst/mtinst (0 = none, as QEMU mostly writes)
    """

    __slots__ = ("cause", "tval", "gpa", "gva", "tinst")

    def __init__(self, cause: int, tval: int = 0, gpa: int = 0, gva: bool = False,
                 tinst: int = 0):
        super().__init__(cause)
        self.cause = cause
        self.tval = tval & 0xFFFFFFFF
        self.gpa = gpa
        self.gva = gva
        self.tinst = tinst

    def __repr__(self):
        return f"Trap({cause_name(self.cause)}, tval={self.tval:#x})"
