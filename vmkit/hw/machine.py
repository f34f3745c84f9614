"""The simulated host machine: a hart, RAM and QEMU `virt` devices on one bus.

    machine = Machine()
    machine.load_elf(read_elf(data))       # or machine.load_program(assemble(source))
    exit = machine.run(1_000_000)           # -> Exit(reason="poweroff", code=0, ...)
    machine.console_output                  # what the guest printed (UART and HTIF): the
                                            # last CONSOLE_LIMIT bytes; console_dropped counts
                                            # the bytes before them

The same ELF runs here and on `qemu-system-riscv32 -M virt -bios none -kernel X.elf`: the
hart starts in M-mode at the ELF entry, as QEMU's `-bios none` does.
"""

from .bus import Bus
from .devices import (UART0_IRQ, VIRT_MEMORY_MAP, Clint, Htif, Plic, SifiveTest,
                      Uart16550)
from .devices.console import ConsoleLog
from .hart import Exit, Hart
from .tlb import Tlb

# A trap storm: this many traps in a row with no instruction retired between them. A program
# whose trap vector faults (or a guest kernel's) takes trap after trap and never runs again;
# each costs the simulator ~20 us, so without a bound a 10^7 budget of them is minutes. Real
# code nests a handful of traps at most (a fault in a handler's first instruction, an interrupt
# taken on the way), so 4096 is far from anything that makes progress, and ~0.1 s to detect.
# Exact: the hart calls `StormWatch.poll` after every trap. A handler that retires even one
# instruction (say a bare `sret` back to the faulting instruction) makes progress; that
# livelock is stopped only by the budget.
STORM_TRAPS = 4096
STORM = ("the program takes trap after trap without retiring an instruction "
         "(is its trap vector valid?)")


class StormWatch:
    """Counts the traps taken since the last instruction retired (x86: a triple fault's
    cousin; KVM reports a guest stuck in a fault loop as an internal error)."""

    def __init__(self):
        self.traps = 0
        self.instret = self.taken = 0          # the hart's counters when last looked at

    def saw(self, retired, traps):
        """Record a stretch that retired `retired` instructions, then took `traps` traps;
        True when the traps since the last retirement reach STORM_TRAPS."""
        self.traps = traps if retired else self.traps + traps
        return self.traps >= STORM_TRAPS

    def poll(self, hart):
        """Called by the hart between two stretches of instructions (`Hart.poll`), that is
        after every trap: a stretch retires instructions and may end in one trap, or it is
        one interrupt taken. Stops the hart with Exit("storm") when a storm is seen. (When
        single-stepping, traps and instructions can alternate inside a stretch: then only
        its last trap is counted, so a storm may be seen later but never falsely.)"""
        retired, taken = hart.instret - self.instret, hart.traps - self.taken
        self.instret, self.taken = hart.instret, hart.traps
        if self.saw(retired, min(taken, 1) if retired else taken):
            hart.stop("storm", message=STORM)


def run_hart(hart, budget, watch, poll=None):
    """`hart.run(budget)`, ending with Exit("storm") when `watch` sees a trap storm: so a
    storm costs at most STORM_TRAPS traps, whatever the budget. `poll`: the caller's own
    work between stretches (Hart.poll)."""
    watch.instret, watch.taken = hart.instret, hart.traps

    def check():
        watch.poll(hart)
        if poll is not None:
            poll()

    hart.poll = check
    try:
        return hart.run(budget)
    finally:
        hart.poll = None


class Machine:
    def __init__(self, ram_size=128 << 20, output=None, ticks_per_instruction=1,
                 instructions_per_tick=1, tlb_entries=64, tlb_ways=4, tlb_tagged=True,
                 fast=True):
        """`output(bytes)` receives console output as it is produced (default: collected
        in `console_output`). mtime advances `ticks_per_instruction` /
        `instructions_per_tick` per retired instruction (see devices/clint.py). `fast`:
        run guest code as compiled blocks (hw/blocks.py); False: the reference interpreter,
        one closure per instruction (both give identical results)."""
        self.console_output = ConsoleLog()
        self._output = output
        self.bus = Bus(VIRT_MEMORY_MAP["dram"][0], ram_size)
        self.uart = Uart16550(output=self._console)
        self.clint = Clint(ticks_per_instruction, instructions_per_tick)
        self.plic = Plic()
        self.finisher = SifiveTest(on_power_off=self._power_off)
        for name, device in (("uart0", self.uart), ("clint", self.clint),
                             ("plic", self.plic), ("test", self.finisher)):
            self.bus.attach(VIRT_MEMORY_MAP[name][0], device)
        self.uart.irq = lambda level: self.plic.set_level(UART0_IRQ, level)
        self.tlb = Tlb(entries=tlb_entries, ways=tlb_ways, tagged=tlb_tagged)
        self.hart = Hart(self.bus, self.clint, self.plic, self.tlb)
        self.hart.fast = fast
        self.htif = Htif(on_power_off=self._power_off, output=self._console)
        self.tohost = self.fromhost = None
        self._tohost_pending = False
        self.symbols = {}
        self.storm = StormWatch()

    # -- loading --------------------------------------------------------------------------
    def load_elf(self, image):
        """Copy an `ElfImage`'s segments into RAM; start at its entry in M-mode."""
        for segment in image.segments:
            if not self.bus.is_ram(segment.paddr, max(segment.memsize, 1)):
                raise ValueError(f"segment at {segment.paddr:#010x} ({segment.memsize} bytes)"
                                 f" is outside RAM ({self.bus.ram_base:#010x}.."
                                 f"{self.bus.ram_end - 1:#010x})")
            self.bus.write_bytes(segment.paddr, segment.data)
            self.bus.write_bytes(segment.paddr + len(segment.data),
                                 bytes(segment.memsize - len(segment.data)))
        self._start(image.entry, image.symbols)

    def load_program(self, program):
        """Copy an assembled `vmkit.asm.Program` into RAM; start at its entry."""
        for address, data in program.image():
            if not self.bus.is_ram(address, max(len(data), 1)):
                raise ValueError(f"program data at {address:#010x} is outside RAM")
            self.bus.write_bytes(address, data)
        self._start(program.entry, program.symbols)

    def _start(self, entry, symbols):
        if not self.bus.is_ram(entry, 4):
            raise ValueError(f"entry point {entry:#010x} is outside RAM "
                             f"({self.bus.ram_base:#010x}..{self.bus.ram_end - 1:#010x})")
        self.symbols = dict(symbols)
        self.hart.reset()
        self.hart.pc = entry
        self.tohost = symbols.get("tohost")
        self.fromhost = symbols.get("fromhost")
        if self.tohost is not None and self.bus.is_ram(self.tohost, 8):
            self.hart.watch_page(self.tohost >> 12, self._tohost_written)
        else:
            self.tohost = None

    # -- running --------------------------------------------------------------------------
    def run(self, max_instructions=10_000_000) -> Exit:
        """Run the hart; see `Hart.run`, and `run_hart` for trap storms (Exit "storm").
        Console output is in `console_output`."""
        return run_hart(self.hart, max_instructions, self.storm, self._poll_tohost)

    def feed(self, data: bytes):
        """Type `data` on the console: the UART receives it (and HTIF getchar)."""
        self.uart.feed(data)
        self.htif.feed(data)

    # -- device callbacks -------------------------------------------------------------------
    @property
    def console_dropped(self):
        """Bytes the guest printed before the retained tail `console_output`."""
        return self.console_output.dropped

    def _console(self, data):
        self.console_output.write(data)
        if self._output is not None:
            self._output(data)

    def _power_off(self, kind, code):
        if kind == "reset":
            self.hart.stop("reset", message="the guest asked for a reset")
        else:
            self.hart.stop("poweroff", code=code, message=f"powered off ({kind}, code {code})")

    def _tohost_written(self, paddr):
        """A guest store hit tohost. Commands are 64 bits; RV32 programs store the low word,
        then the high word (riscv-tests, Spike's console), so the store to the high word
        completes a command. A program that only ever writes the low word is served when the
        run loop next polls (`_poll_tohost`), as Spike's polling host would."""
        if not self.tohost <= paddr < self.tohost + 8:
            return                     # another word on the same page
        if paddr >= self.tohost + 4:
            self._serve_tohost()
        else:
            self._tohost_pending = True

    def _poll_tohost(self):
        if self._tohost_pending:
            self._serve_tohost()

    def _serve_tohost(self):
        self._tohost_pending = False
        value = int.from_bytes(self.bus.read_bytes(self.tohost, 8), "little")
        if value == 0:
            return
        self.bus.write_bytes(self.tohost, bytes(8))
        answer = self.htif.tohost_written(value)
        if answer is not None and self.fromhost is not None and self.bus.is_ram(
                self.fromhost, 8):
            self.bus.write_bytes(self.fromhost, answer.to_bytes(8, "little"))
