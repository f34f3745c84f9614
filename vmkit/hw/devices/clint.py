"""CLINT: the machine timer and software interrupt of hart 0 (x86: local APIC timer + IPI).

Layout as QEMU 7.2 hw/intc/riscv_aclint.c places it on `virt` (an ACLINT MSWI at +0 and an
MTIMER at +0x4000):

    +0x0000  msip       bit 0 = machine software interrupt pending (mip.MSIP)
    +0x4000  mtimecmp   64 bits, low word then high word
    +0xBFF8  mtime      64 bits, low word then high word; writable
    +0xC000  (nothing: QEMU maps 0x4000 bytes of MSWI and 0x8000 of MTIMER; access fault)

mip.MTIP is the level `mtime >= mtimecmp`. All registers are 32-bit: other widths and
unaligned accesses are access faults (QEMU's MemoryRegionOps allow 4 bytes for MSWI and
4..8 for MTIMER; an RV32 hart has no 8-byte load). Offsets that name a hart other than
hart 0 read as 0 and ignore writes, as QEMU logs and ignores them.

Time is counted in retired instructions, not wall-clock time, so runs are deterministic:

    mtime = mtime_at_last_write + (instructions * ticks_per_instruction) // instructions_per_tick

`Clint(ticks_per_instruction=10)` makes mtime run 10 ticks per instruction;
`Clint(instructions_per_tick=100)` makes it run one tick every 100 instructions (QEMU's
10 MHz timebase on a ~1 GIPS host is about that). Both are integers >= 1, so mtime is exact.

mtimecmp resets to 0, as QEMU 7.2 creates it (riscv_aclint_mtimer_create: timecmp[i] = 0),
so MTIP is set from the first instruction on, as QEMU's mip shows; firmware writes mtimecmp
before it enables timer interrupts.
"""

from vmkit.hw.bus import Device

from . import access_error

MSIP = 0x0000
MTIMECMP = 0x4000
MTIME = 0xBFF8
MTIMER_END = 0xC000
MASK64 = (1 << 64) - 1

# A deadline this many ticks away is "never": at QEMU's 10 MHz it is 29,000 years.
NEVER_TICKS = 1 << 63


class Clint(Device):
    name = "clint"
    size = 0x10000

    def __init__(self, ticks_per_instruction: int = 1, instructions_per_tick: int = 1):
        for what, value in (("ticks_per_instruction", ticks_per_instruction),
                            ("instructions_per_tick", instructions_per_tick)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{what} must be an integer >= 1, not {value!r}")
        self.ticks_per_instruction = ticks_per_instruction
        self.instructions_per_tick = instructions_per_tick
        self.reset()

    def reset(self):
        self.msip = False
        self.mtimecmp = 0
        self._mtime_base = 0                # mtime when it was last written
        self._instructions = 0              # instructions retired since then

    # -- the hart's interface -------------------------------------------------------------
    def advance(self, instructions: int) -> None:
        """The hart retired `instructions` more instructions."""
        self._instructions += instructions

    @property
    def mtime(self) -> int:
        ticks = self._instructions * self.ticks_per_instruction // self.instructions_per_tick
        return (self._mtime_base + ticks) & MASK64

    @property
    def mtip(self) -> bool:
        """The machine timer interrupt line (mip.MTIP) of hart 0."""
        return self.mtime >= self.mtimecmp

    def instructions_until_timer(self):
        """Instructions to retire before MTIP rises: 0 if it is up, None if it never will."""
        if self.mtip:
            return 0
        # Smallest n with base + (done + n) * tpi // ipt >= mtimecmp.
        ticks_needed = self.mtimecmp - self._mtime_base
        if ticks_needed <= 0 or ticks_needed >= NEVER_TICKS:
            return None                     # only after mtime wraps around 2**64
        total = -(-ticks_needed * self.instructions_per_tick // self.ticks_per_instruction)
        return total - self._instructions

    # -- bus side -------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        self._check(offset, size, "read")
        if offset == MSIP:
            return int(self.msip)
        if offset in (MTIMECMP, MTIMECMP + 4):
            return self.mtimecmp >> (8 * (offset - MTIMECMP)) & 0xFFFF_FFFF
        if offset in (MTIME, MTIME + 4):
            return self.mtime >> (8 * (offset - MTIME)) & 0xFFFF_FFFF
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        self._check(offset, size, "write")
        if offset == MSIP:
            self.msip = bool(value & 1)
        elif offset in (MTIMECMP, MTIMECMP + 4):
            self.mtimecmp = self._replace_word(self.mtimecmp, offset - MTIMECMP, value)
        elif offset in (MTIME, MTIME + 4):
            self._mtime_base = self._replace_word(self.mtime, offset - MTIME, value)
            self._instructions = 0

    def _check(self, offset: int, size: int, what: str) -> None:
        if size != 4 or offset & 3 or offset >= MTIMER_END:
            raise access_error(self, offset, size, what)

    @staticmethod
    def _replace_word(old: int, byte_offset: int, word: int) -> int:
        shift = 8 * byte_offset
        return (old & ~(0xFFFF_FFFF << shift) | (word & 0xFFFF_FFFF) << shift) & MASK64
