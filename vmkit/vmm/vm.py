"""A virtual machine and its run loop: run the guest, look at why it stopped, handle it, repeat.

    exit = engine.enter(budget)           # KVM_RUN: the guest runs until something needs us
    match exit.kind:                      # an ExitReason (exits.py), KVM's exit_reason
        SBI     -> firmware call (sbi.py), then step over the ecall
        MMIO    -> emulate the device access (io.py), or give the guest an access fault
        VIRTUAL_INSTRUCTION -> the guest used a hypervisor-only instruction: illegal for it
        FAULT   -> give the guest the exception the engine chose
        WFI     -> nothing to do: let guest time pass to the timer, or stop until a device
                   interrupt (irq.py) raises the guest's line between two runs
                   (IDLE is the same without an exit: the CPU itself slept in wfi)
        ERROR   -> stop the VM
        BUDGET, CALLOUT and the kinds the engine handled itself -> nothing
        anything else -> stop the VM: "unhandled exit", never silently ignored

Guest time is deterministic: it counts guest instructions retired plus the time skipped while
the guest waits in wfi, so every engine delivers the guest's timer interrupt at the same guest
instruction. The VMM arms the timer itself (SBI set_timer) and bounds each slice so the guest
stops exactly when its timer is due.

A Python exception inside the VMM (a device model, the SBI, an engine) stops only this VM:
VmStop("error") names the component and keeps the traceback; with VMKIT_DEBUG=1 it is raised.

Guest interrupts (the guest's PLIC, vm.raise_irq): irq.py. Guest-physical memory: layout.py.
Where the RAM sits in host-physical memory is the engine's business.
"""

from collections import Counter
from dataclasses import dataclass, field

from vmkit.hw.devices import UART0_IRQ, Uart16550
from vmkit.hw.devices.console import ConsoleLog
from vmkit.hw.machine import StormWatch
from vmkit.hw.trap import ILLEGAL_INSTRUCTION, LOAD_ACCESS_FAULT, STORE_ACCESS_FAULT, Trap
from vmkit.isa import decode

from . import snapshot as snapshots
from .engines import engine_class
from .exits import NOT_EXITS, STORM, ExitReason, VmStop, debugging, vmm_failure
from .io import LOADS, GuestDevices, emulate_access
from .io.board import place
from .io.dma import GuestDma
from .irq import GuestPlic
from .layout import GUEST_PLIC, GUEST_RAM, GUEST_UART, MAX_GUEST_RAM
from .sbi import Sbi

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
    dma_bytes: int = 0                # guest memory a VMM device model read or wrote (io/dma.py)
    hardware_dma_bytes: int = 0       # ... and an assigned device, by DMA (no CPU work: unpriced)
    # Register accesses by device name, however each was reached (an exit, the software CPU,
    # the hardware): what the I/O comparison divides by the bytes moved.
    by_device: Counter = field(default_factory=Counter)
    # The MMU's counts for this VM (TLB lookups, misses, walks, walk references by stage):
    # what the hardware model counted, about caches, which are not state: no snapshot keeps
    # them, a VM restored in place counts on. Set by the VM to its engine's `mmu_counters`.
    mmu = None

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
                # Plain string keys, as before ExitReason: JSON and printed rows stay the same.
                "exits": {str(kind): n for kind, n in self.exits.items()},
                "interrupts_injected": self.interrupts_injected,
                "hypercalls": self.exits.get("hypercall", 0),
                # The device model's work: one per MMIO exit, or per emulated access.
                "device_exits": self.exits.get("mmio", 0) + self.device_accesses,
                "direct_device_accesses": self.direct_device_accesses,
                "dma_bytes": self.dma_bytes, "hardware_dma_bytes": self.hardware_dma_bytes,
                "device_accesses_by_device": dict(self.by_device),
                **(self.mmu() if self.mmu else {})}


class VirtualMachine:
    def __init__(self, program, engine="hw", ram_size=4 << 20, console=None, quirks=(),
                 fast=True, host=None, name=None, tlb_tagged=True, gstage_page=None, io=()):
        """`program`: an assembled `vmkit.asm.Program` or an `vmkit.elf.ElfImage` linked for
        guest-physical RAM at 0x8000_0000; it starts in (virtual) S-mode at its entry with
        a0 = hart ID 0, as Linux starts under OpenSBI. `quirks`: Popek-Goldberg lab switches
        of the host CPU (vmkit.hw.system.QUIRKS), e.g. ("popf",). `fast`: the host CPU runs
        compiled blocks (False: the reference interpreter; the results are identical).
        `host`: the Host to run on (default: a private one); several VMs on one host are
        made with `Host.create_vm`, which names them (`name`). `tlb_tagged=False`: run as
        on a CPU without ASIDs/VMIDs (the TLB flushes on every world and address-space
        switch). `gstage_page`: the size of the leaves of the VMM's G-stage table, 4096 or
        4 << 20 (engines with one: hw; default the engine's). `io`: I/O device models the
        guest gets besides its UART (vmm/io: e.g. VirtioBlk(disk)), placed by io/board.py."""
        from vmkit.hw.system import QUIRKS

        engine_type = engine_class(engine)
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
        pages = engine_type.gstage_pages
        if gstage_page is not None and gstage_page not in pages:
            raise ValueError(f"gstage_page must be one of {', '.join(map(str, pages))}, not "
                             f"{gstage_page!r}" if pages else f"engine {engine!r} has no "
                             "G-stage table: gstage_page is for an engine with one (hw)")
        segments = _segments(program)
        for gpa, data, memsize in segments:      # checked before anything is allocated
            if not GUEST_RAM <= gpa <= gpa + max(memsize, len(data)) <= GUEST_RAM + ram_size:
                raise ValueError(f"guest segment at {gpa:#010x} ({memsize} bytes) is outside "
                                 f"guest RAM ({GUEST_RAM:#010x}, {ram_size} bytes)")
        self.ram_size = ram_size
        self.fast = fast
        self.tlb_tagged = bool(tlb_tagged)
        self.gstage_page = gstage_page or (pages[0] if pages else None)
        self.name = engine if name is None else name
        # On a shared host: wfi waiting for the timer ends `run` with VmStop("idle") (after
        # skipping guest time), so the scheduler can give the hart to another VM.
        self.yield_when_idle = False
        self._idled = False
        self.console = ConsoleLog()         # the last CONSOLE_LIMIT bytes the guest printed
        self._console_callback = console
        self.console_input = bytearray()
        self.counters = Counters()
        self.sbi = Sbi(self)
        self.devices = GuestDevices()
        self.uart = self.devices.attach(GUEST_UART, Uart16550(output=self.console_write))
        self.plic = self.devices.attach(GUEST_PLIC, GuestPlic(self))
        self.uart.irq = self.plic.input(UART0_IRQ)
        self.io = []                         # [(base, PLIC source, device)]: io/board.py
        for base, source, device in place(io):
            self.devices.attach(base, device)
            device.plug(GuestDma(self), self.plic.input(source))
            self.io.append((base, source, device))
        self.timer_deadline = None
        self.timer_raised = False
        self.stop = None
        self.failure = None                # the exception that stopped the VMM, if any
        self.storm = StormWatch()          # traps since the guest last retired an instruction
        self.engine = engine_type(self, host)
        self.counters.mmu = self.engine.mmu_counters
        self.engine.load(segments, entry)
        self.engine.cpu.quirks = frozenset(quirks)      # (after load: the VM is on the hart)

    # -- snapshots (snapshot.py) ----------------------------------------------------------------
    def snapshot(self):
        """The whole guest state now, as a `Snapshot` (`.to_bytes()`: the file format)."""
        return snapshots.take(self)

    def load_snapshot(self, snapshot):
        """Go back to `snapshot` (a Snapshot or a file's bytes) in place; SnapshotError, and
        this VM unchanged, when it does not load here."""
        snapshots.load(self, snapshot)

    def save(self, path):
        data = self.snapshot().to_bytes()
        with open(path, "wb") as f:
            f.write(data)

    @classmethod
    def from_snapshot(cls, snapshot, console=None):
        """A new VM of the snapshot's engine, RAM size and quirks that goes on from it."""
        snap = snapshots.coerce(snapshot)
        vm = cls(snapshots.blank_program(), engine=snap.engine, ram_size=snap.ram_size,
                 console=console, quirks=snap.quirks, fast=snap.fast)
        vm.load_snapshot(snap)
        return vm

    @classmethod
    def restore(cls, path, console=None):
        return cls.from_snapshot(snapshots.Snapshot.read(path), console=console)

    # -- the run loop -------------------------------------------------------------------------
    def run(self, max_instructions=10_000_000):
        """Run the guest for up to `max_instructions` guest instructions; returns a VmStop."""
        try:
            stop = self._run(max_instructions)
        except Exception as error:         # the last guard: a VMM bug stops this VM only
            self.fail("vmm run loop", error)
            stop = self.stop
        if self.failure is not None and debugging():
            raise self.failure
        return stop

    def _run(self, max_instructions):
        start = self.counters.guest_instructions
        self.engine.activate()              # another VM may have had the hart
        while self.stop is None:
            left = max_instructions - (self.counters.guest_instructions - start)
            if left <= 0:
                return VmStop("budget", message=f"stopped after {max_instructions} instructions")
            budget = self._bound_by_timer(left)
            progress = self.guest_time
            try:
                exit = self.engine.enter(budget)
            except Exception as error:
                self.fail(f"engine {self.engine.name}", error)
                break
            if exit.kind not in NOT_EXITS and not exit.callout:
                self.counters.exits[exit.kind] += 1
            self._handle(exit)
            # A guest whose trap vector itself faults takes trap after trap and never retires
            # an instruction: stop it. The engines count the traps the hart takes on its own;
            # every return from the engine with nothing retired (an exit, a callout) is one
            # more, so this loop cannot spin for ever whatever an engine does.
            if self.storm.saw(self.guest_time != progress, 1) and self.stop is None:
                self.stop = VmStop("error", message=STORM)
            if self._idled and self.stop is None:
                self._idled = False
                return VmStop("idle", message="waits in wfi for its timer")
        return self.stop

    def _handle(self, exit):
        engine = self.engine
        match exit.kind:
            case ExitReason.SBI:
                if self.call_sbi(engine.registers):
                    engine.complete_instruction()
            case ExitReason.MMIO:
                device, _ = self.devices.find(exit.gpa)
                if device is not None:
                    self.counters.by_device[device.name] += 1
                try:
                    done = emulate_access(self.devices, engine.registers, exit.word, exit.gpa)
                except Exception as error:
                    return self.fail(self.devices.component(exit.gpa), error)
                if done:
                    engine.complete_instruction()
                else:
                    cause = LOAD_ACCESS_FAULT if _is_load(exit.word) else STORE_ACCESS_FAULT
                    engine.inject(Trap(cause, engine.fault_address(exit)))
            case ExitReason.VIRTUAL_INSTRUCTION:
                engine.inject(Trap(ILLEGAL_INSTRUCTION, exit.word))
            case ExitReason.FAULT:
                engine.inject(exit.trap)
            case ExitReason.WFI | ExitReason.IDLE:    # idle: the hart slept in wfi, no exit
                self._idle()
            case ExitReason.ERROR:
                if self.stop is None:      # a VMM failure already stopped it, naming the part
                    self.stop = VmStop("error", message=exit.message,
                                       traceback=exit.traceback)
            case (ExitReason.BUDGET | ExitReason.CALLOUT | ExitReason.ILLEGAL_INSTRUCTION
                  | ExitReason.ECALL | ExitReason.EXCEPTION | ExitReason.INTERRUPT
                  | ExitReason.HYPERCALL | ExitReason.PAGE_FAULT):
                pass                       # the engine has handled it (or nothing happened)
            case _:
                self.stop = VmStop("error", message=f"unhandled exit: {exit.kind}")

    def fail(self, component, error):
        """An exception `error` inside VMM component `component`: stop this VM (the first
        failure is the one reported; vm.run raises it when VMKIT_DEBUG=1)."""
        if self.failure is None:
            self.failure = error
            self.stop = vmm_failure(component, error)

    def call_sbi(self, registers):
        """Serve the guest's SBI call; False if the SBI failed (the VM is then stopped)."""
        try:
            self.sbi.handle(registers)
        except Exception as error:
            self.fail("sbi", error)
            return False
        return True

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
        """wfi with nothing pending: skip guest time to the timer, or the guest sleeps until a
        device interrupt (vm.raise_irq, UART input) raises its line between two runs."""
        if self.timer_deadline is None or not self.engine.timer_enabled():
            # Input comes only between runs (irq.py): a rising interrupt line resumes it.
            self.stop = VmStop("wfi", message="the guest waits (wfi) for an interrupt and no "
                                              "timer is armed: only a device can wake it")
            return
        skip = max(0, self.timer_deadline - self.guest_time)
        self.counters.idle += skip
        self.engine.pass_time(skip)
        self._idled = self.yield_when_idle

    # -- guest interrupts (irq.py) --------------------------------------------------------------
    def raise_irq(self, source):
        """Signal guest PLIC source `source` (1..95) high: it becomes pending (QEMU 7.2's
        PLIC latches it); the guest takes it when it has enabled it. Call between runs."""
        self.plic.set_level(source, True)

    def lower_irq(self, source):
        """Signal source `source` low (QEMU 7.2: a latched pending bit stays until claimed)."""
        self.plic.set_level(source, False)

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
    return [(s.paddr, s.data, s.memsize) for s in program.segments]
