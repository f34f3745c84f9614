"""Privileged (SYSTEM) instructions: CSR access, ecall/ebreak, mret/sret, wfi, fences, HLV/HSV.

These are the "sensitive" instructions of the lecture. Each handler first checks that the
current mode may execute it and raises the exception the spec names otherwise:

* illegal instruction (2): the mode is too weak, or a trap bit (mstatus.TSR/TW/TVM) forbids it;
* virtual instruction (22): VS/VU-mode tried something HS-mode could do, so the hypervisor
  gets the chance to emulate it (privileged spec 8.6.1). This is the RISC-V "VM exit".

Popek and Goldberg's condition holds on RISC-V: every sensitive instruction traps when run
below the privilege it needs, so a classic trap-and-emulate VMM works.

Source: RISC-V privileged spec 20211203, chapters 3.3 (mret, wfi), 4.2 (sret, sfence.vma),
8.3 (HLV/HSV, HFENCE), 8.6 (traps in virtualized modes).
"""

from vmkit.isa import csr_name, decode

from . import csr as C
from .trap import (BREAKPOINT, ECALL_FROM_M, ECALL_FROM_S, ECALL_FROM_U, ECALL_FROM_VS,
                   ILLEGAL_INSTRUCTION, LOAD_MISALIGNED, STORE_MISALIGNED, VIRTUAL_INSTRUCTION,
                   Trap)

M, S, U = 3, 1, 0


def execute_system(hart, word):
    """Execute the SYSTEM (or fence.i) instruction `word` at hart.pc."""
    row, ops = decode(word, aliases=False)
    HANDLERS[row.name](hart, word, ops)


def _illegal(word):
    return Trap(ILLEGAL_INSTRUCTION, word)


def _virtual(word):
    return Trap(VIRTUAL_INSTRUCTION, word)


# --- Zicsr ----------------------------------------------------------------------------------

def _csr_op(kind, immediate):
    def csr_instruction(h, word, ops):
        rd, source = ops["d"], ops["Z"] if immediate else ops["s"]
        value = source if immediate else h.x[source]
        # csrrw with rd=x0 does not read; csrrs/csrrc with rs1=x0 (or uimm=0) do not write,
        # so reading a read-only CSR with csrr is fine (spec 9.1).
        writes = kind == "w" or source != 0
        reads = kind != "w" or rd != 0
        if h.quirks and ops["E"] == SSTATUS and h.priv == U and not h.virt:
            if _quirk_sstatus(h, rd, writes):
                return
        number = h.csrs.check_access(ops["E"], writes, word)
        old = h.csrs.read(number) if reads else 0
        if writes:
            new = value if kind == "w" else old | value if kind == "s" else old & ~value
            h.csrs.write(number, new)
            if h.trace is not None:        # the commit log shows the value the CSR now holds
                h.trace_log.append(f" c{number}_{csr_name(number, '1.12')} "
                                   f"0x{h.csrs.read(number):08x}")
        if rd:
            h.x[rd] = old
        h.pc += 4
    return csr_instruction


# --- the Popek-Goldberg lab: sensitive but unprivileged, as x86's PUSHF/POPF ------------------

SSTATUS = 0x100
QUIRKS = {
    "pushf": "csrr of sstatus in U-mode does not trap: it reads the real sstatus "
             "(x86: PUSHF in ring 3 shows the real EFLAGS.IF)",
    "popf": "a write of sstatus in U-mode does not trap and changes nothing "
            "(x86: POPF in ring 3 silently ignores a change of IF)",
}


def _quirk_sstatus(h, rd, writes):
    """With a quirk switched on, sstatus accesses from U-mode behave like x86's PUSHF/POPF:
    sensitive (their result depends on privileged state) but not privileged (no trap). Real
    RISC-V traps them all; this switch exists to show why that matters (Popek & Goldberg).
    Returns True when the quirk handled the instruction."""
    if writes and "popf" in h.quirks:
        if rd:                       # csrrw/csrrs/csrrc with a destination also reads
            h.x[rd] = h.csrs.read(SSTATUS)
        h.pc += 4
        return True
    if not writes and "pushf" in h.quirks:
        if rd:
            h.x[rd] = h.csrs.read(SSTATUS)
        h.pc += 4
        return True
    return False


# --- environment calls and returns ----------------------------------------------------------

def ecall(h, word, ops):
    if h.priv == M:
        cause = ECALL_FROM_M
    elif h.priv == S:
        cause = ECALL_FROM_VS if h.virt else ECALL_FROM_S
    else:
        cause = ECALL_FROM_U
    raise Trap(cause, 0)


def ebreak(h, word, ops):
    raise Trap(BREAKPOINT, 0)          # xtval = 0: QEMU 7.2's choice (the spec allows pc or 0)


def mret(h, word, ops):
    if h.priv != M:
        raise _illegal(word)
    status = h.mstatus
    mpp = (status & C.MPP) >> C.MPP_SHIFT
    status = status & ~C.MIE | (C.MIE if status & C.MPIE else 0)
    status = (status | C.MPIE) & ~C.MPP                   # MPP <- U, MPIE <- 1
    if mpp != M:
        status &= ~C.MPRV
    h.mstatus = status
    h.virt = bool(h.mstatush & C.MSTATUSH_MPV) and mpp != M
    h.mstatush &= ~C.MSTATUSH_MPV
    h.priv = mpp
    h.pc = h.mepc
    h.reservation = None
    h.translation_changed()
    if h.trace is not None:              # Spike logs the status write an mret makes
        h.trace_log.append(f" c768_mstatus 0x{h.mstatus:08x} c784_mstatush 0x{h.mstatush:08x}")


def sret(h, word, ops):
    if h.virt:
        if h.priv == U or h.hstatus & C.HSTATUS_VTSR:
            raise _virtual(word)
        status = h.vsstatus
        h.priv = S if status & C.SPP else U
        h.vsstatus = _leave_supervisor(status)
        h.pc = h.vsepc
    else:
        if h.priv == U or (h.priv == S and h.mstatus & C.TSR):
            raise _illegal(word)
        status = h.mstatus
        spp = S if status & C.SPP else U
        h.mstatus = _leave_supervisor(status) & ~C.MPRV
        h.virt = bool(h.hstatus & C.HSTATUS_SPV)
        h.hstatus &= ~C.HSTATUS_SPV
        h.priv = spp
        h.pc = h.sepc
    h.reservation = None
    h.translation_changed()


def _leave_supervisor(status):
    """SIE <- SPIE, SPIE <- 1, SPP <- U."""
    status = status & ~C.SIE | (C.SIE if status & C.SPIE else 0)
    return (status | C.SPIE) & ~C.SPP


def wfi(h, word, ops):
    if h.priv != M:
        if h.mstatus & C.TW:
            raise _illegal(word)
        if h.virt and (h.priv == U or h.hstatus & C.HSTATUS_VTW):
            raise _virtual(word)
        if not h.virt and h.priv == U:
            raise _illegal(word)
    h.pc += 4
    if not h.wakeup_pending():
        h.wait_for_interrupt()


# --- address-translation fences -------------------------------------------------------------

def sfence_vma(h, word, ops):
    if h.virt:
        if h.priv == U or h.hstatus & C.HSTATUS_VTVM:
            raise _virtual(word)
    elif h.priv == U or (h.priv == S and h.mstatus & C.TVM):
        raise _illegal(word)
    vaddr, asid = _fence_operands(h, ops)
    if h.virt:       # in VS-mode sfence.vma means hfence.vvma for this guest
        h.mmu.tlb.flush_vvma(_vmid(h), vaddr, asid)
    else:
        h.mmu.tlb.flush_vma(vaddr, asid)
    h.translation_changed()
    h.pc += 4


def hfence_vvma(h, word, ops):
    _check_hypervisor_instruction(h, word)
    vaddr, asid = _fence_operands(h, ops)
    h.mmu.tlb.flush_vvma(_vmid(h), vaddr, asid)
    h.translation_changed()
    h.pc += 4


def hfence_gvma(h, word, ops):
    _check_hypervisor_instruction(h, word)
    if h.priv == S and h.mstatus & C.TVM:
        raise _illegal(word)
    gpa_shifted, vmid = _fence_operands(h, ops)
    gpa = None if gpa_shifted is None else gpa_shifted << 2     # rs1 holds GPA >> 2
    h.mmu.tlb.flush_gvma(vmid, gpa)
    h.translation_changed()
    h.pc += 4


def _fence_operands(h, ops):
    rs1, rs2 = ops["s"], ops["t"]
    return (h.x[rs1] if rs1 else None), (h.x[rs2] if rs2 else None)


def _vmid(h):
    return (h.hgatp >> 22) & 0x7F


def _check_hypervisor_instruction(h, word):
    """HFENCE: M and HS only; virtual-instruction from VS/VU, illegal from U."""
    if h.virt:
        raise _virtual(word)
    if h.priv == U:
        raise _illegal(word)


def _check_hypervisor_access(h, word):
    """HLV/HSV: like HFENCE, but U-mode may use them when hstatus.HU is set."""
    if h.virt:
        raise _virtual(word)
    if h.priv == U and not h.hstatus & C.HSTATUS_HU:
        raise _illegal(word)


def fence_i(h, word, ops):
    h.pc += 4        # stores to a page with decoded code already discard it (hart.py)


# --- hypervisor virtual-machine loads and stores ------------------------------------------

def _hlv(size, signed, execute=False):
    def hlv(h, word, ops):
        _check_hypervisor_access(h, word)
        vaddr = h.x[ops["s"]]
        if vaddr & (size - 1):
            raise Trap(LOAD_MISALIGNED, vaddr)
        # The access is made as VS/VU (hstatus.SPVP) with two-stage translation.
        priv = S if h.hstatus & C.HSTATUS_SPVP else U
        value = h.load_physical(vaddr, size, priv, True, hlvx=execute)
        if signed and value >> (8 * size - 1):
            value -= 1 << (8 * size)
        if ops["d"]:
            h.x[ops["d"]] = value & 0xFFFFFFFF
        h.pc += 4
    return hlv


def _hsv(size):
    def hsv(h, word, ops):
        _check_hypervisor_access(h, word)
        vaddr = h.x[ops["s"]]
        if vaddr & (size - 1):
            raise Trap(STORE_MISALIGNED, vaddr)
        priv = S if h.hstatus & C.HSTATUS_SPVP else U
        value = h.x[ops["t"]] & ((1 << (8 * size)) - 1)
        h.store_physical(vaddr, size, value, priv, True)
        h.pc += 4
    return hsv


HANDLERS = {
    "csrrw": _csr_op("w", False), "csrrs": _csr_op("s", False), "csrrc": _csr_op("c", False),
    "csrrwi": _csr_op("w", True), "csrrsi": _csr_op("s", True), "csrrci": _csr_op("c", True),
    "ecall": ecall, "ebreak": ebreak, "mret": mret, "sret": sret, "wfi": wfi,
    "sfence.vma": sfence_vma, "hfence.vvma": hfence_vvma, "hfence.gvma": hfence_gvma,
    "fence.i": fence_i,
    "hlv.b": _hlv(1, True), "hlv.bu": _hlv(1, False), "hlv.h": _hlv(2, True),
    "hlv.hu": _hlv(2, False), "hlv.w": _hlv(4, False),
    "hlvx.hu": _hlv(2, False, execute=True), "hlvx.wu": _hlv(4, False, execute=True),
    "hsv.b": _hsv(1), "hsv.h": _hsv(2), "hsv.w": _hsv(4),
}
