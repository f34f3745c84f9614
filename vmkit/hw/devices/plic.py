"""PLIC: routes device interrupt lines to the harts' external-interrupt inputs (x86: I/O APIC).

Register map of QEMU 7.2's `virt` PLIC (hw/intc/sifive_plic.c, include/hw/riscv/virt.h):

    +0x000000 + 4*source          priority of a source (0 = never interrupts), 3 bits
    +0x001000 + 4*word            pending bits, read only
    +0x002000 + 0x80*ctx + 4*word enable bits of a context
    +0x200000 + 0x1000*ctx        priority threshold of a context
    +0x200004 + 0x1000*ctx        claim (read) / complete (write)

Sources 1..95 exist (QEMU: VIRT_IRQCHIP_NUM_SOURCES = 96 counts source 0, which does not);
source 0's priority word reads 0. QEMU 7.2 also stores a priority written at +0x180, past the
end of its array (source 96 has no enable bit); here that word is a hole.
Contexts: 0 = hart 0 M-mode (drives mip.MEIP), 1 = hart 0 S-mode (drives mip.SEIP).

A context's interrupt line is up when some source is pending, enabled for it, not claimed
and of priority above its threshold (`pending_context`). A claim returns the
highest-priority such source (the lowest number on a tie), clears its pending bit and marks
it claimed; a claimed source is not delivered again until the context writes its number to
complete.

Pending bits follow QEMU 7.2, which the differential test checks: a device signalling its
line high sets the source's pending bit, signalling it low does not clear it, and only a
claim does (sifive_plic_irq_request acts on level > 0 only; later QEMUs clear it on level 0).
The UART re-signals its level after every register access that may change it, so a source
whose line is still high after completion becomes pending again at the device's next access.
One departure: QEMU 7.2 recomputes MEIP/SEIP on priority, threshold, claim, complete and
device events but not on an enable write; here `pending_context` is always current.
Only aligned 32-bit accesses decode (sifive_plic_ops: min = max = 4); anything else is an
access fault. Unimplemented offsets read 0 and ignore writes (QEMU logs a guest error).
"""

from vmkit.hw.bus import Device

from . import access_error

NUM_SOURCES = 96                 # including the nonexistent source 0
NUM_CONTEXTS = 2
NUM_WORDS = (NUM_SOURCES + 31) // 32
PRIORITY_MASK = 7                # 3 priority bits: writes keep the low 3 bits (WARL)

PENDING_BASE = 0x001000
ENABLE_BASE, ENABLE_STRIDE = 0x002000, 0x80
CONTEXT_BASE, CONTEXT_STRIDE = 0x200000, 0x1000


class Plic(Device):
    name = "plic"
    size = 0x600000

    def __init__(self):
        self.priority = [0] * NUM_SOURCES
        self.pending = [False] * NUM_SOURCES
        self.claimed = [False] * NUM_SOURCES
        self.enable = [[0] * NUM_WORDS for _ in range(NUM_CONTEXTS)]
        self.threshold = [0] * NUM_CONTEXTS

    # -- the devices' and the hart's interface ------------------------------------------
    def set_level(self, source: int, level: bool) -> None:
        """A device signals its interrupt line (`source` 1..95); high latches pending."""
        if not 0 < source < NUM_SOURCES:
            raise ValueError(f"PLIC source {source} does not exist (1..{NUM_SOURCES - 1})")
        if level:
            self.pending[source] = True

    def pending_context(self, ctx: int) -> bool:
        """The external-interrupt line of context `ctx` (0: mip.MEIP, 1: mip.SEIP)."""
        return self._best(ctx) != 0

    # -- claim / complete ---------------------------------------------------------------
    def _enabled(self, ctx: int, source: int) -> bool:
        return bool(self.enable[ctx][source >> 5] >> (source & 31) & 1)

    def _best(self, ctx: int) -> int:
        """Highest-priority pending enabled source above the threshold; 0 if none."""
        if True not in self.pending:
            return 0                        # the common case, checked in C
        best, best_priority = 0, self.threshold[ctx]
        for source in range(1, NUM_SOURCES):
            if (self.pending[source] and not self.claimed[source]
                    and self.priority[source] > best_priority and self._enabled(ctx, source)):
                best, best_priority = source, self.priority[source]
        return best

    def claim(self, ctx: int) -> int:
        source = self._best(ctx)
        if source:
            self.pending[source] = False
            self.claimed[source] = True
        return source

    def complete(self, ctx: int, source: int) -> None:
        # The PLIC spec ignores a completion for a source not enabled for the context;
        # QEMU 7.2 accepts it (sifive_plic_write), and so does vmkit.
        if 0 < source < NUM_SOURCES:
            self.claimed[source] = False

    # -- bus side -------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        self._check(offset, size, "read")
        if offset < PENDING_BASE:                           # priorities
            source = offset >> 2
            return self.priority[source] if source < NUM_SOURCES else 0
        if PENDING_BASE <= offset < PENDING_BASE + 4 * NUM_WORDS:
            word = (offset - PENDING_BASE) >> 2
            return sum(1 << bit for bit in range(32)
                       if 32 * word + bit < NUM_SOURCES and self.pending[32 * word + bit])
        ctx, word = self._enable_word(offset)
        if ctx is not None:
            return self.enable[ctx][word]
        ctx, register = self._context_register(offset)
        if ctx is not None:
            return self.threshold[ctx] if register == 0 else self.claim(ctx)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        self._check(offset, size, "write")
        if offset < PENDING_BASE:
            source = offset >> 2
            if 0 < source < NUM_SOURCES:
                self.priority[source] = value & PRIORITY_MASK
            return
        ctx, word = self._enable_word(offset)
        if ctx is not None:
            self.enable[ctx][word] = value & 0xFFFF_FFFF
            return
        ctx, register = self._context_register(offset)
        if ctx is not None:
            if register == 0:
                self.threshold[ctx] = value & PRIORITY_MASK
            else:
                self.complete(ctx, value)
        # Pending bits are read only; other offsets are holes.

    def _check(self, offset: int, size: int, what: str) -> None:
        if size != 4 or offset & 3:
            raise access_error(self, offset, size, what)

    @staticmethod
    def _enable_word(offset: int):
        """(context, word) for an enable register, or (None, 0)."""
        ctx, rest = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
        if offset >= ENABLE_BASE and ctx < NUM_CONTEXTS and rest < 4 * NUM_WORDS:
            return ctx, rest >> 2
        return None, 0

    @staticmethod
    def _context_register(offset: int):
        """(context, 0 = threshold | 4 = claim/complete), or (None, 0)."""
        ctx, rest = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if offset >= CONTEXT_BASE and ctx < NUM_CONTEXTS and rest in (0, 4):
            return ctx, rest
        return None, 0
