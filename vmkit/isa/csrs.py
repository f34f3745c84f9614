"""The one table of control and status registers (CSRs): names and numbers.

The CSR number itself encodes who may touch it (Volume II, section 2.1): bits [11:10] = 0b11
means read-only, bits [9:8] give the lowest privilege that may access it (0 U, 1 S, 2 H/VS,
3 M). The hart checks those bits; this table only names the registers. What each register
*does* (WARL masks, side effects) lives with the hart in `vmkit/hw/csr.py`.

``since`` is the privileged-spec version that introduced the name, ``until`` the one that
dropped it (the N extension's user trap CSRs). GNU objdump 2.40 prints a CSR as a number
when the file's privileged spec (its .riscv.attributes; 1.11 is what GNU as records by
default, 1.12 when none is recorded) lacks the name; `csr_name` does the same, so the
disassembler matches objdump word for word.

Source: The RISC-V Instruction Set Manual, Volume II (Privileged Architecture, 20211203),
tables 2.2-2.6 (CSR listings) and chapter 8 (H extension).
"""

from typing import NamedTuple


class Csr(NamedTuple):
    name: str
    number: int
    since: str = "1.11"
    until: str | None = None


def _rows():
    rows = []

    def add(name, number, since="1.11", until=None):
        rows.append(Csr(name, number, since, until))

    def series(prefix, first, last, base, since="1.11", suffix=""):
        for i in range(first, last + 1):
            add(f"{prefix}{i}{suffix}", base + i, since)

    # Unprivileged floating-point CSRs: named so `csrr a0,fcsr` reads as objdump prints it.
    add("fflags", 0x001), add("frm", 0x002), add("fcsr", 0x003)
    # Unprivileged counters and timers (read-only shadows of the machine counters).
    add("cycle", 0xC00), add("time", 0xC01), add("instret", 0xC02)
    series("hpmcounter", 3, 31, 0xC00)
    add("cycleh", 0xC80), add("timeh", 0xC81), add("instreth", 0xC82)
    series("hpmcounter", 3, 31, 0xC80, suffix="h")

    # Supervisor.
    add("sstatus", 0x100), add("sie", 0x104), add("stvec", 0x105), add("scounteren", 0x106)
    add("senvcfg", 0x10A, "1.12")
    add("sscratch", 0x140), add("sepc", 0x141), add("scause", 0x142), add("stval", 0x143)
    add("sip", 0x144), add("stimecmp", 0x14D), add("stimecmph", 0x15D)
    add("satp", 0x180)
    add("scontext", 0x5A8)

    # Hypervisor and virtual supervisor (H extension).
    add("hstatus", 0x600), add("hedeleg", 0x602), add("hideleg", 0x603), add("hie", 0x604)
    add("htimedelta", 0x605), add("hcounteren", 0x606), add("hgeie", 0x607)
    add("henvcfg", 0x60A), add("htimedeltah", 0x615), add("henvcfgh", 0x61A)
    add("htval", 0x643), add("hip", 0x644), add("hvip", 0x645), add("htinst", 0x64A)
    add("hgatp", 0x680), add("hcontext", 0x6A8), add("hgeip", 0xE12)
    add("vsstatus", 0x200), add("vsie", 0x204), add("vstvec", 0x205)
    add("vsscratch", 0x240), add("vsepc", 0x241), add("vscause", 0x242), add("vstval", 0x243)
    add("vsip", 0x244), add("vstimecmp", 0x24D), add("vstimecmph", 0x25D), add("vsatp", 0x280)

    # Machine information, trap setup and handling.
    add("mvendorid", 0xF11), add("marchid", 0xF12), add("mimpid", 0xF13), add("mhartid", 0xF14)
    add("mconfigptr", 0xF15, "1.12")
    add("mstatus", 0x300), add("misa", 0x301), add("medeleg", 0x302), add("mideleg", 0x303)
    add("mie", 0x304), add("mtvec", 0x305), add("mcounteren", 0x306)
    add("menvcfg", 0x30A, "1.12"), add("mstatush", 0x310, "1.12"), add("menvcfgh", 0x31A, "1.12")
    add("mcountinhibit", 0x320)
    series("mhpmevent", 3, 31, 0x320)
    add("mscratch", 0x340), add("mepc", 0x341), add("mcause", 0x342), add("mtval", 0x343)
    add("mip", 0x344), add("mtinst", 0x34A, "1.12"), add("mtval2", 0x34B, "1.12")

    # Physical memory protection: RV32 has pmpcfg0..15 (4 entries each) and pmpaddr0..63;
    # spec 1.11 had 16 entries (pmpcfg0..3, pmpaddr0..15).
    series("pmpcfg", 0, 3, 0x3A0)
    series("pmpcfg", 4, 15, 0x3A0, "1.12")
    series("pmpaddr", 0, 15, 0x3B0)
    series("pmpaddr", 16, 63, 0x3B0, "1.12")
    add("mseccfg", 0x747, "1.12"), add("mseccfgh", 0x757, "1.12")

    # Machine counters.
    add("mcycle", 0xB00), add("minstret", 0xB02)
    series("mhpmcounter", 3, 31, 0xB00)
    add("mcycleh", 0xB80), add("minstreth", 0xB82)
    series("mhpmcounter", 3, 31, 0xB80, suffix="h")

    # Debug and trigger registers (named for the disassembler; vmkit's hart has no debug mode).
    add("tselect", 0x7A0), add("tdata1", 0x7A1), add("tdata2", 0x7A2), add("tdata3", 0x7A3)
    add("mcontext", 0x7A8), add("mscontext", 0x7AA)
    add("dcsr", 0x7B0), add("dpc", 0x7B1), add("dscratch0", 0x7B2), add("dscratch1", 0x7B3)
    add("tinfo", 0x7A4), add("tcontrol", 0x7A5)

    # Names objdump 2.40 prints that vmkit's hart does not implement (reading one traps);
    # listed only so the disassembly matches objdump word for word.
    # N extension (user-level traps): in spec 1.11, dropped by 1.12.
    for name, number in (("ustatus", 0x000), ("uie", 0x004), ("utvec", 0x005),
                         ("uscratch", 0x040), ("uepc", 0x041), ("ucause", 0x042),
                         ("utval", 0x043), ("uip", 0x044), ("sedeleg", 0x102),
                         ("sideleg", 0x103)):
        add(name, number, until="1.12")
    # Vector (V), entropy source (Zkr), counter overflow (Sscofpmf).
    add("vstart", 0x008), add("vxsat", 0x009), add("vxrm", 0x00A), add("vcsr", 0x00F)
    add("vl", 0xC20), add("vtype", 0xC21), add("vlenb", 0xC22)
    add("seed", 0x015)
    series("mhpmevent", 3, 31, 0x720, suffix="h")
    add("scountovf", 0xDA0)
    # State enable (Smstateen).
    series("sstateen", 0, 3, 0x10C)
    series("mstateen", 0, 3, 0x30C)
    series("mstateen", 0, 3, 0x31C, suffix="h")
    series("hstateen", 0, 3, 0x60C)
    series("hstateen", 0, 3, 0x61C, suffix="h")
    # Advanced interrupt architecture (Smaia/Ssaia).
    for name, number in (
            ("sieh", 0x114), ("siselect", 0x150), ("sireg", 0x151), ("siph", 0x154),
            ("stopei", 0x15C), ("stopi", 0xDB0), ("vsieh", 0x214), ("vsiselect", 0x250),
            ("vsireg", 0x251), ("vsiph", 0x254), ("vstopei", 0x25C), ("vstopi", 0xEB0),
            ("mvien", 0x308), ("mvip", 0x309), ("midelegh", 0x313), ("mieh", 0x314),
            ("mvienh", 0x318), ("mviph", 0x319), ("miselect", 0x350), ("mireg", 0x351),
            ("miph", 0x354), ("mtopei", 0x35C), ("mtopi", 0xFB0), ("hvien", 0x608),
            ("hvictl", 0x609), ("hidelegh", 0x613), ("hvienh", 0x618), ("hviprio1", 0x646),
            ("hviprio2", 0x647), ("hviph", 0x655), ("hviprio1h", 0x656), ("hviprio2h", 0x657)):
        add(name, number)
    return tuple(rows)


CSRS = _rows()
CSR_NUMBERS = {c.name: c.number for c in CSRS}
CSR_BY_NUMBER = {c.number: c for c in CSRS}

# Names the rest of vmkit uses in code, so a typo fails at import time, not at run time.
globals().update({c.name.upper(): c.number for c in CSRS})


def _version(spec: str) -> tuple:
    return tuple(int(part) for part in spec.split("."))


def csr_name(number: int, priv_spec: str = "1.12") -> str:
    """The name objdump would print for `number` under `priv_spec`, else hex."""
    csr = CSR_BY_NUMBER.get(number)
    if (csr is None or _version(priv_spec) < _version(csr.since)
            or csr.until and _version(priv_spec) >= _version(csr.until)):
        return hex(number)
    return csr.name
