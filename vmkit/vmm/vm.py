"""A virtual machine and its run loop: run the guest, look at why it stopped, handle it, repeat.

    exit = engine.enter(budget)           # KVM_RUN: the guest runs until something needs us
    match exit.kind:                      # KVM's exit_reason
        "sbi"     -> firmware call (sbi.py), then step over the ecall
        "mmio"    -> emulate the device access (io.py), or give the guest an access fault
        "virtual_instruction" -> the guest used a hypervisor-only instruction: illegal for it
        "wfi"     -> nothing to do: let guest time pass to the timer, or stop
                     ("idle" is the same without an exit: the CPU itself slept in wfi)
        "budget"  -> the slice is used up

Guest time is deterministic: it counts guest instructions retired plus the time skipped while
the guest waits in wfi, so every engine delivers the guest's timer interrupt at the same guest
instruction. The VMM arms the timer itself (SBI set_timer) and bounds each slice so the guest
stops exactly when its timer is due.

Guest-physical memory: RAM at 0x8000_0000 (GUEST_RAM), a 16550 UART at 0x1000_0000, nothing
else. Where the RAM sits in host-physical memory is the engine's business.
"""

from collections import Counter
from dataclasses import dataclass, field

from vmkit.hw.devices import Uart16550, VIRT_MEMORY_MAP
from vmkit.hw.devices.console import ConsoleLog
from vmkit.hw.machine import StormWatch
from vmkit.hw.trap import ILLEGAL_INSTRUCTION, LOAD_ACCESS_FAULT, STORE_ACCESS_FAULT, Trap
from vmkit.isa import decode

from .io import LOADS, GuestDevices, emulate_access
from .sbi import Sbi

GUEST_RAM = 0x8000_0000
GUEST_UART = VIRT_MEMORY_MAP["uart0"][0]
# The most guest RAM a VM may have: every engine carves it out of a 32 MiB host machine, and
# trap/pv/hw/bt keep their page tables below the guest's 16 MiB (see engines/trap.py).
MAX_GUEST_RAM = 16 << 20
STORM = ("the guest takes trap after trap without retiring an instruction "
         "(is its trap vector valid?)")


@dataclass
class VmExit:
    """Why `Engine.enter` returned (x86: a VM exit; KVM: kvm_run.exit_reason)."""
    kind: str                    # what the VMM must do; see the table in the module docstring.
    #   Kinds an engine has already handled itself, counted but needing nothing more:
    #   "illegal_instruction" (emulated), "ecall", "exception", "interrupt" (reflected).
    gpa: int = 0                 # mmio: the guest-physical address
    word: int = 0                # mmio/illegal: the instruction
    trap: object = None          # fault: the exception to give the guest
    message: str = ""
    callout: bool = False        # bt: the translated code called the VMM; no trap, no exit


@dataclass
class VmStop:
    """How a run ended."""
    reason: str                  # "shutdown" "budget" "wfi" "error"
    code: int = 0
    message: str = ""


@dataclass
class Counters:
    """What the VMM counts (docs/ARCHITECTURE.md); `as_dict` is what the cost model prices."""
    guest_instructions: int = 0       # = direct + emulated: the guest's own instruction count
    direct_instructions: int = 0      # run by the host CPU itself
    emulated_instructions: int = 0    # finished or interpreted by the VMM in software
    idle: int = 0                     # guest time that passed in wfi
    exits: Counter = field(default_factory=Counter)
    interrupts_injected: int = 0
    device_accesses: int = 0          # device-model work done without an exit (emulate)
    direct_device_accesses: int = 0   # device registers the guest reached on the hardware (native)

    def direct(self, count):
        self.direct_instructions += count
        self.guest_instructions += count

    def emulated(self, count):
        self.emulated_instructions += count
        self.guest_instructions += count

    def as_dict(self):
        return {"guest_instructions": self.guest_instructions,
                "direct_instructions": self.direct_instructions,
                "emulated_instructions": self.emulated_instructions, "idle": self.idle,
                "exits": dict(self.exits), "interrupts_injected": self.interrupts_injected,
                "hypercalls": self.exits.get("hypercall", 0),
                # The device model's work: one per MMIO exit, or per emulated access.
                "device_exits": self.exits.get("mmio", 0) + self.device_accesses,
                "direct_device_accesses": self.direct_device_accesses}


class VirtualMachine:
    def __init__(self, program, engine="hw", ram_size=4 << 20, console=None, quirks=(),
                 fast=True):
        """`program`: an assembled `vmkit.asm.Program` or an `vmkit.elf.ElfImage` linked for
        guest-physical RAM at 0x8000_0000; it starts in (virtual) S-mode at its entry with
        a0 = hart ID 0, as Linux starts under OpenSBI. `quirks`: Popek-Goldberg lab switches
        of the host CPU (vmkit.hw.system.QUIRKS), e.g. ("popf",). `fast`: the host CPU runs
        compiled blocks (False: the reference interpreter; the results are identical)."""
        from vmkit.hw.system import QUIRKS

        from .engines import ENGINES
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        for quirk in quirks:
            if quirk not in QUIRKS:
                raise ValueError(f"unknown quirk {quirk!r}; choose from {', '.join(QUIRKS)}")
        if ram_size < 4096 or ram_size & (ram_size - 1) or ram_size > MAX_GUEST_RAM:
            raise ValueError("guest RAM size must be a power of two from 4 KiB to "
                             f"{MAX_GUEST_RAM >> 20} MiB")
        entry = program.entry
        if not GUEST_RAM <= entry <= GUEST_RAM + ram_size - 4:
            raise ValueError(f"entry point {entry:#010x} is outside guest RAM "
                             f"({GUEST_RAM:#010x}, {ram_size} bytes)")
        if entry & 3:
            raise ValueError(f"entry point {entry:#010x} is not 4-byte aligned")
        self.ram_size = ram_size
        self.fast = fast
        self.console = ConsoleLog()         # the last CONSOLE_LIMIT bytes the guest printed
        self._console_callback = console
        self.console_input = bytearray()
        self.counters = Counters()
        self.sbi = Sbi(self)
        self.devices = GuestDevices()
        self.uart = self.devices.attach(GUEST_UART, Uart16550(output=self.console_write))
        self.timer_deadline = None
        self.timer_raised = False
        self.stop = None
        self.storm = StormWatch()          # traps since the guest last retired an instruction
        self.engine = ENGINES[engine](self)
        self.engine.cpu.quirks = frozenset(quirks)
        self.engine.load(_segments(program), entry)

    # -- the run loop -------------------------------------------------------------------------
    def run(self, max_instructions=10_000_000):
        """Run the guest for up to `max_instructions` guest instructions; returns a VmStop."""
        start = self.counters.guest_instructions
        while self.stop is None:
            left = max_instructions - (self.counters.guest_instructions - start)
            if left <= 0:
                return VmStop("budget", message=f"stopped after {max_instructions} instructions")
            budget = self._bound_by_timer(left)
            progress = self.guest_time
            exit = self.engine.enter(budget)
            trapped = exit.kind not in ("budget", "idle", "callout") and not exit.callout
            if trapped:
                self.counters.exits[exit.kind] += 1
            self._handle(exit)
            # A guest whose trap vector itself faults takes trap after trap and never retires
            # an instruction: stop it. The engines count the traps the hart takes on its own;
            # every return from the engine with nothing retired (an exit, a callout) is one
            # more, so this loop cannot spin for ever whatever an engine does.
            if self.storm.saw(self.guest_time != progress, 1) and self.stop is None:
                self.stop = VmStop("error", message=STORM)
        return self.stop

    def _handle(self, exit):
        engine = self.engine
        if exit.kind == "sbi":
            self.sbi.handle(engine.registers)
            engine.complete_instruction()
        elif exit.kind == "mmio":
            if emulate_access(self.devices, engine.registers, exit.word, exit.gpa):
                engine.complete_instruction()
            else:
                cause = LOAD_ACCESS_FAULT if _is_load(exit.word) else STORE_ACCESS_FAULT
                engine.inject(Trap(cause, engine.fault_address(exit)))
        elif exit.kind == "virtual_instruction":
            engine.inject(Trap(ILLEGAL_INSTRUCTION, exit.word))
        elif exit.kind == "fault":
            engine.inject(exit.trap)
        elif exit.kind in ("wfi", "idle"):     # idle: the hart slept in wfi, no exit needed
            self._idle()
        elif exit.kind == "error":
            self.stop = VmStop("error", message=exit.message)

    # -- guest time and the timer --------------------------------------------------------------
    @property
    def guest_time(self):
        return self.counters.guest_instructions + self.counters.idle

    def _bound_by_timer(self, budget):
        if self.timer_deadline is None:
            return budget
        due = self.timer_deadline - self.guest_time
        if due <= 0:
            if not self.timer_raised:
                self.timer_raised = True
                self.counters.interrupts_injected += 1
                self.engine.set_timer_pending(True)
            return budget
        return min(budget, due)

    def _idle(self):
        """wfi with nothing pending: skip guest time to the timer, or the guest sleeps forever."""
        if self.timer_deadline is None or not self.engine.timer_enabled():
            self.stop = VmStop("wfi", message="the guest waits (wfi) for an interrupt that "
                                              "can never come")
            return
        skip = max(0, self.timer_deadline - self.guest_time)
        self.counters.idle += skip
        self.engine.pass_time(skip)

    # -- services for sbi.py ------------------------------------------------------------------
    def set_timer(self, deadline):
        self.timer_deadline = deadline
        self.timer_raised = False
        self.engine.set_timer_pending(False)       # SBI: setting the timer clears the pending bit

    @property
    def console_dropped(self):
        """Bytes the guest printed before the retained tail `console`."""
        return self.console.dropped

    def console_write(self, data):
        self.console.write(data)
        if self._console_callback is not None:
            self._console_callback(bytes(data))

    def console_read(self):
        if not self.console_input:
            return None
        return self.console_input.pop(0)

    def read_guest(self, gpa, length):
        return self.engine.read_guest(gpa, length)

    def write_guest(self, gpa, data):
        return self.engine.write_guest(gpa, data)

    def shutdown(self, code=0, reboot=False):
        self.stop = VmStop("shutdown", code=code,
                           message="the guest asked for a reboot" if reboot else "")


def _is_load(word):
    """A load (or LR, which faults on a device as a load does: Spike's "disallow LR to I/O
    space"), as opposed to a store or AMO."""
    row, _ = decode(word, aliases=False)
    return row is not None and (row.name in LOADS or row.name == "lr.w")


def _segments(program):
    """[(guest-physical address, bytes, memsize)] of an assembled Program or an ElfImage."""
    if hasattr(program, "segments"):
        return [(s.paddr, s.data, s.memsize) for s in program.segments]
    return [(address, data, len(data)) for address, data in program.image()]
