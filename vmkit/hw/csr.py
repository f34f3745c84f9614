"""The hart's control and status registers: who may access them, and what a write keeps.

Names and numbers come from the one CSR table (`vmkit.isa.csrs`). Here each implemented CSR
gets its behaviour: a plain register with a WARL write mask, or a *view* of another register
(sstatus is a window on mstatus; sip/sie on mip/mie; when V=1 the supervisor CSRs are
redirected to the VS copies: the H extension's "VS CSRs replace the S CSRs").

Access rules (privileged spec 2.1 and 8.6.1), checked by `check_access`:
* bits [9:8] of the number give the least privilege that may access it (0 U, 1 S, 2 HS, 3 M);
  bits [11:10] = 0b11 means read-only;
* from VS/VU-mode, touching an HS-level or VS CSR (or, in VU, an S CSR) that HS-mode could
  touch raises a *virtual-instruction* exception (cause 22) instead of illegal instruction:
  the hypervisor gets to emulate it. This is the x86 "VM exit on a sensitive instruction";
* mstatus.TVM makes satp trap in HS-mode; hstatus.VTVM does the same for VS-mode;
* the counters obey mcounteren / hcounteren / scounteren.

WARL masks follow QEMU 7.2's `target/riscv/csr.c` so that vmkit and QEMU read back the same
values; the test corpus (tests/programs) prints them on both.
"""

from vmkit.isa.csrs import CSR_NUMBERS as N

from .trap import ILLEGAL_INSTRUCTION, VIRTUAL_INSTRUCTION, Trap

# mstatus bits (RV32 low half) and mstatush bits.
SIE, MIE, SPIE, UBE, MPIE, SPP = 1 << 1, 1 << 3, 1 << 5, 1 << 6, 1 << 7, 1 << 8
VS_FIELD, MPP, FS = 3 << 9, 3 << 11, 3 << 13
MPRV, SUM, MXR, TVM, TW, TSR = 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22
SD = 1 << 31
MPP_SHIFT = 11
MSTATUSH_GVA, MSTATUSH_MPV = 1 << 6, 1 << 7

MSTATUS_WRITABLE = (SIE | MIE | SPIE | MPIE | SPP | MPP | MPRV | SUM | MXR | TVM | TW | TSR
                    | VS_FIELD)
SSTATUS_VISIBLE = SIE | SPIE | UBE | SPP | VS_FIELD | FS | (3 << 15) | SUM | MXR | SD
SSTATUS_WRITABLE = SIE | SPIE | SPP | SUM | MXR | VS_FIELD

# hstatus bits.
HSTATUS_VSBE, HSTATUS_GVA, HSTATUS_SPV, HSTATUS_SPVP = 1 << 5, 1 << 6, 1 << 7, 1 << 8
HSTATUS_HU, HSTATUS_VTVM, HSTATUS_VTW, HSTATUS_VTSR = 1 << 9, 1 << 20, 1 << 21, 1 << 22
HSTATUS_WRITABLE = (HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_HU | HSTATUS_VTVM
                    | HSTATUS_VTW | HSTATUS_VTSR)

# Interrupt bits (mip/mie).
SSIP, VSSIP, MSIP, STIP, VSTIP, MTIP, SEIP, VSEIP, MEIP, SGEIP = (
    1 << 1, 1 << 2, 1 << 3, 1 << 5, 1 << 6, 1 << 7, 1 << 9, 1 << 10, 1 << 11, 1 << 12)
S_INTERRUPTS = SSIP | STIP | SEIP
VS_INTERRUPTS = VSSIP | VSTIP | VSEIP
M_INTERRUPTS = MSIP | MTIP | MEIP
ALL_INTERRUPTS = S_INTERRUPTS | VS_INTERRUPTS | M_INTERRUPTS | SGEIP
MIP_WRITABLE = SSIP | STIP | SEIP | VSSIP          # the rest are wired to devices or hvip

# Exceptions M-mode may delegate (QEMU's DELEGABLE_EXCPS) and those HS-mode may pass on to VS.
def _bits(*numbers):
    return sum(1 << n for n in numbers)


# QEMU 7.2 lets M delegate everything up to 13 (even ecall from M, bit 11), and 15, 20-23.
MEDELEG_WRITABLE = _bits(*range(14), 15, 20, 21, 22, 23)
HEDELEG_WRITABLE = _bits(0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 15)

# misa: RV32 (MXL=1) with A, H, I, M, S, U.
MISA = 1 << 30 | sum(1 << (ord(c) - ord("A")) for c in "AHIMSU")

SATP_MODE = 1 << 31
HGATP_WRITABLE = 1 << 31 | 0x7F << 22 | 0x3FFFFC     # MODE, VMID (7 bits), PPN with [1:0]=0

COUNTERS = range(0xC00, 0xC20)
S_LEVEL = 1


def _with_sd(status):
    """mstatus.SD summarises FS/VS/XS: set when any of them is Dirty (3)."""
    dirty = (status & FS) == FS or (status & VS_FIELD) == VS_FIELD or (status >> 15) & 3 == 3
    return status | SD if dirty else status & ~SD


class CsrFile:
    """Reads and writes CSRs of one hart (`hart` holds the values as attributes)."""

    def __init__(self, hart):
        self.hart = hart
        self.readers = {}
        self.writers = {}
        self._define()

    # -- definitions ----------------------------------------------------------------------
    def _plain(self, name, attribute=None, writable=0xFFFFFFFF, side_effect=None):
        """A register stored in `hart.<attribute>`; a write keeps only the `writable` bits."""
        attribute = attribute or name
        hart = self.hart

        def read():
            return getattr(hart, attribute)

        def write(value):
            old = getattr(hart, attribute)
            setattr(hart, attribute, (old & ~writable) | (value & writable))
            if side_effect:
                side_effect()
        self.readers[N[name]] = read
        self.writers[N[name]] = write

    def _view(self, name, read, write=None):
        self.readers[N[name]] = read
        self.writers[N[name]] = write or (lambda value: None)

    def _define(self):
        h = self.hart
        ctx = h.translation_changed          # anything that changes address translation

        # Machine information: read-only zero except hartid 0 and misa.
        for name in ("mvendorid", "marchid", "mimpid", "mhartid", "mconfigptr"):
            self._view(name, lambda: 0)
        self._view("misa", lambda: MISA)

        self._view("mstatus", lambda: _with_sd(h.mstatus), self._write_mstatus)
        self._plain("mstatush", writable=MSTATUSH_GVA | MSTATUSH_MPV, side_effect=ctx)
        self._plain("medeleg", writable=MEDELEG_WRITABLE)
        self._view("mideleg", lambda: h.mideleg | VS_INTERRUPTS | SGEIP,
                   lambda v: setattr(h, "mideleg", v & S_INTERRUPTS))
        self._plain("mie", writable=ALL_INTERRUPTS)
        self._view("mtvec", lambda: h.mtvec, lambda v: self._write_tvec("mtvec", v))
        self._plain("mcounteren", writable=0xFFFFFFFF)
        self._plain("mscratch")
        self._plain("mepc", writable=0xFFFFFFFC)          # IALIGN=32: bits [1:0] read zero
        self._plain("mcause")
        self._plain("mtval")
        self._plain("mtval2")
        self._plain("mtinst")
        self._view("mip", lambda: h.read_mip(),
                   lambda v: setattr(h, "mip_soft", (h.mip_soft & ~MIP_WRITABLE)
                                     | (v & MIP_WRITABLE)))
        self._plain("menvcfg", writable=1)                # FIOM only
        self._plain("menvcfgh", writable=0)
        self._plain("mcountinhibit", writable=0b101)
        for i in range(4):
            self._view(f"pmpcfg{i}", lambda i=i: h.read_pmpcfg(i),
                       lambda v, i=i: h.write_pmpcfg(i, v))
        for i in range(16):
            self._view(f"pmpaddr{i}", lambda i=i: h.pmpaddr[i],
                       lambda v, i=i: h.write_pmpaddr(i, v))

        # Debug triggers (Sdtrig, debug spec 1.0 section 5.7): this hart has none, which the
        # spec allows. The CSRs still exist, so M-mode software that enumerates triggers
        # (OpenSBI, Linux, a debugger stub) finds zero instead of an illegal instruction:
        # tselect is WARL and can only hold 0; tdata1 reads type 0, "no trigger at this
        # tselect", with dmode and data hard-wired to 0; tdata2/tdata3 read 0; tinfo of a
        # trigger that does not exist "contains 1". Writes are ignored. (QEMU 7.2 has two
        # mcontrol triggers; Spike --triggers=0 agrees with this except that its tinfo reads 0.)
        for name in ("tselect", "tdata1", "tdata2", "tdata3"):
            self._view(name, lambda: 0)
        self._view("tinfo", lambda: 1)

        # Counters: mcycle/minstret are writable; the U-mode names are read-only shadows.
        self._view("mcycle", lambda: h.counter("cycle") & 0xFFFFFFFF,
                   lambda v: h.set_counter("cycle", v, high=False))
        self._view("mcycleh", lambda: h.counter("cycle") >> 32,
                   lambda v: h.set_counter("cycle", v, high=True))
        self._view("minstret", lambda: h.counter("instret") & 0xFFFFFFFF,
                   lambda v: h.set_counter("instret", v, high=False))
        self._view("minstreth", lambda: h.counter("instret") >> 32,
                   lambda v: h.set_counter("instret", v, high=True))
        for i in range(3, 32):
            self._view(f"mhpmcounter{i}", lambda: 0)
            self._view(f"mhpmcounter{i}h", lambda: 0)
            self._view(f"mhpmevent{i}", lambda: 0)
        self._view("cycle", lambda: h.counter("cycle") & 0xFFFFFFFF)
        self._view("cycleh", lambda: h.counter("cycle") >> 32)
        self._view("instret", lambda: h.counter("instret") & 0xFFFFFFFF)
        self._view("instreth", lambda: h.counter("instret") >> 32)
        self._view("time", lambda: h.read_time() & 0xFFFFFFFF)
        self._view("timeh", lambda: h.read_time() >> 32)
        for i in range(3, 32):
            self._view(f"hpmcounter{i}", lambda: 0)
            self._view(f"hpmcounter{i}h", lambda: 0)

        # Supervisor (HS-mode views; VS-mode is redirected in `redirect`).
        self._view("sstatus", lambda: _with_sd(h.mstatus) & SSTATUS_VISIBLE,
                   lambda v: self._write_mstatus((h.mstatus & ~SSTATUS_WRITABLE)
                                                 | (v & SSTATUS_WRITABLE)))
        self._view("sie", lambda: h.mie & h.mideleg & S_INTERRUPTS,
                   lambda v: setattr(h, "mie", (h.mie & ~(h.mideleg & S_INTERRUPTS))
                                     | (v & h.mideleg & S_INTERRUPTS)))
        self._view("sip", lambda: h.read_mip() & h.mideleg & S_INTERRUPTS,
                   lambda v: setattr(h, "mip_soft", (h.mip_soft & ~(h.mideleg & SSIP))
                                     | (v & h.mideleg & SSIP)))
        self._view("stvec", lambda: h.stvec, lambda v: self._write_tvec("stvec", v))
        self._plain("scounteren")
        self._plain("senvcfg", writable=1)
        self._plain("sscratch")
        self._plain("sepc", writable=0xFFFFFFFC)
        self._plain("scause")
        self._plain("stval")
        self._view("satp", lambda: h.satp, lambda v: (setattr(h, "satp", v), ctx()))

        # Hypervisor.
        self._plain("hstatus", writable=HSTATUS_WRITABLE, side_effect=ctx)
        self._plain("hedeleg", writable=HEDELEG_WRITABLE)
        self._plain("hideleg", writable=VS_INTERRUPTS)
        self._view("hie", lambda: h.mie & (VS_INTERRUPTS | SGEIP),
                   lambda v: setattr(h, "mie", (h.mie & ~(VS_INTERRUPTS | SGEIP))
                                     | (v & (VS_INTERRUPTS | SGEIP))))
        self._view("hip", lambda: h.read_mip() & (VS_INTERRUPTS | SGEIP),
                   lambda v: setattr(h, "hvip", (h.hvip & ~VSSIP) | (v & VSSIP)))
        self._plain("hvip", writable=VS_INTERRUPTS)
        self._plain("hcounteren")
        self._plain("hgeie", writable=0)                  # GEILEN = 0: no guest external ints
        self._view("hgeip", lambda: 0)
        self._plain("htval")
        self._view("htinst", lambda: h.htinst)        # QEMU 7.2 ignores writes
        self._view("hgatp", lambda: h.hgatp,
                   lambda v: self._write_guest_atp("hgatp", h.hgatp & ~HGATP_WRITABLE
                                                   | v & HGATP_WRITABLE))
        self._plain("henvcfg", writable=1)
        self._plain("henvcfgh", writable=0)
        self._plain("htimedelta")
        self._plain("htimedeltah")

        # Virtual supervisor: the registers VS-mode sees under the supervisor names.
        self._view("vsstatus", lambda: _with_sd(h.vsstatus) & SSTATUS_VISIBLE,
                   lambda v: (setattr(h, "vsstatus", (h.vsstatus & ~SSTATUS_WRITABLE)
                                      | (v & SSTATUS_WRITABLE)), ctx()))
        # (lambdas, not bound methods: the trap engine's vCPU record has only S-mode state)
        self._view("vsie", lambda: h.read_vsie(), lambda v: h.write_vsie(v))
        self._view("vsip", lambda: h.read_vsip(), lambda v: h.write_vsip(v))
        self._view("vstvec", lambda: h.vstvec, lambda v: self._write_tvec("vstvec", v))
        self._plain("vsscratch")
        self._plain("vsepc", writable=0xFFFFFFFC)
        self._plain("vscause")
        self._plain("vstval")
        self._view("vsatp", lambda: h.vsatp, lambda v: self._write_guest_atp("vsatp", v))

    def _write_tvec(self, name, value):
        # MODE 2 and 3 are reserved: QEMU 7.2 ignores such a write entirely.
        if value & 3 < 2:
            setattr(self.hart, name, value)

    def _write_guest_atp(self, name, value):
        """vsatp, hgatp. A change of MODE (Bare <-> Sv32) "takes effect immediately, without
        the need to execute an SFENCE.VMA" (privileged spec 4.1.11, for satp; vsatp and hgatp
        follow it). The TLB's guest entries made under the old MODE (G-stage only, or VS-stage
        only) would translate wrongly under the new one, so they go: Linux's
        relocate_enable_mmu fences *before* it writes satp, and relies on this. (satp needs
        nothing: with V=0 a Bare satp leaves no TLB entries.)"""
        h = self.hart
        if (getattr(h, name) ^ value) & SATP_MODE:
            h.mmu.tlb.flush_gvma()
        setattr(h, name, value)
        h.translation_changed()

    def _write_mstatus(self, value):
        h = self.hart
        h.mstatus = (h.mstatus & ~MSTATUS_WRITABLE) | (value & MSTATUS_WRITABLE)
        h.translation_changed()           # MPRV, MPP, SUM, MXR change effective translation

    # -- access ---------------------------------------------------------------------------
    # VS-mode's view of the supervisor CSRs (privileged spec 8.2: "when V=1 ... substitute").
    REDIRECT = {N["sstatus"]: N["vsstatus"], N["sie"]: N["vsie"], N["stvec"]: N["vstvec"],
                N["sscratch"]: N["vsscratch"], N["sepc"]: N["vsepc"],
                N["scause"]: N["vscause"], N["stval"]: N["vstval"], N["sip"]: N["vsip"],
                N["satp"]: N["vsatp"]}

    def check_access(self, number, write, instruction):
        """The CSR number the access really reaches, or raise the right exception."""
        h = self.hart
        if number not in self.readers:
            raise Trap(ILLEGAL_INSTRUCTION, instruction)
        level = (number >> 8) & 3
        if write and number >> 10 == 3:
            raise Trap(ILLEGAL_INSTRUCTION, instruction)
        if h.priv == 3:
            return number
        if level == 3:
            raise Trap(ILLEGAL_INSTRUCTION, instruction)
        if number in COUNTERS or number - 0x80 in COUNTERS:
            return self._check_counter(number, instruction)
        if not h.virt:
            # Level 2 is the hypervisor's: HS-mode (priv S with V=0) may use it.
            if h.priv < min(level, S_LEVEL):
                raise Trap(ILLEGAL_INSTRUCTION, instruction)
            if number == N["satp"] and h.mstatus & TVM:
                raise Trap(ILLEGAL_INSTRUCTION, instruction)
            return number
        # V=1: HS-level CSRs, and S CSRs from VU, are the hypervisor's to emulate.
        if level == 2 or (level == 1 and h.priv == 0):
            raise Trap(VIRTUAL_INSTRUCTION, instruction)
        if number == N["satp"] and h.hstatus & HSTATUS_VTVM:
            raise Trap(VIRTUAL_INSTRUCTION, instruction)
        return self.REDIRECT.get(number, number)

    def _check_counter(self, number, instruction):
        h = self.hart
        bit = 1 << (number & 31)
        if not h.mcounteren & bit:
            raise Trap(ILLEGAL_INSTRUCTION, instruction)
        if h.virt:
            if not h.hcounteren & bit or (h.priv == 0 and not h.scounteren & bit):
                raise Trap(VIRTUAL_INSTRUCTION, instruction)
        elif h.priv == 0 and not h.scounteren & bit:
            raise Trap(ILLEGAL_INSTRUCTION, instruction)
        return number

    def read(self, number):
        return self.readers[number]() & 0xFFFFFFFF

    def write(self, number, value):
        self.writers[number](value & 0xFFFFFFFF)
