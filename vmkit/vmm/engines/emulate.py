"""`emulate`: pure emulation (tiszta emuláció). The VMM interprets every guest instruction in
software; the host CPU never runs guest code.

The software CPU is a vCPU record with an interpreter: vmkit's own `Hart`, instantiated a second
time inside the VMM over a *guest-physical* bus (the guest's RAM, carved out of host RAM, and the
VMM's UART model). So the guest's CSRs, traps and its own MMU walks are all done by software,
the way Bochs or QEMU's TCG do it. There are no exits: a device access is just another step of
the interpreter, and SBI calls are served inline. Everything costs emulation: the cost model
charges every guest instruction at the emulator's price.

Source: DESIGN §3; the lecture's claim 1 ("works, but is not efficient").
"""

from vmkit.hw import csr as C
from vmkit.hw.bus import Bus
from vmkit.hw.devices import Clint
from vmkit.hw.hart import Hart
from vmkit.hw.machine import Machine, run_hart
from vmkit.hw.trap import ECALL_FROM_S

from ..vm import GUEST_RAM, GUEST_UART, VmExit
from ..io import CountedDevice
from .base import STORM, guest_state, pages
from .native import DELEGATED


class EmulateEngine:
    name = "emulate"
    host_ram_size = 32 << 20
    guest_offset = 16 << 20            # where guest RAM sits in host RAM

    def __init__(self, vm):
        self.vm = vm
        self.machine = Machine(ram_size=self.host_ram_size, fast=vm.fast)  # runs the VMM
        host_ram = memoryview(self.machine.bus.ram)
        guest_ram = host_ram[self.guest_offset:self.guest_offset + vm.ram_size]
        self.bus = Bus(GUEST_RAM, ram=guest_ram)                # what the guest can reach
        self.bus.attach(GUEST_UART, CountedDevice(vm.uart, vm.counters))
        self.clint = Clint()                                     # guest time for rdtime
        self.vcpu = self.cpu = Hart(self.bus, clint=self.clint)
        self.vcpu.fast = vm.fast

    # -- guest memory --------------------------------------------------------------------------
    def read_guest(self, gpa, length):
        if length < 0 or not self.bus.is_ram(gpa, max(length, 1)):
            return None
        return self.bus.read_bytes(gpa, length)

    def write_guest(self, gpa, data):
        if not self.bus.is_ram(gpa, max(len(data), 1)):
            return False
        self.bus.write_bytes(gpa, data)
        self.guest_memory_written(gpa, len(data))
        return True

    def guest_memory_written(self, gpa, length):
        """As HartEngine's: every page the VMM wrote loses its compiled code."""
        for page in pages(gpa, length):
            self.vcpu.invalidate_code(page)

    def load(self, segments, entry):
        for gpa, data, memsize in segments:
            if not self.write_guest(gpa, bytes(data) + bytes(memsize - len(data))):
                raise ValueError(f"guest segment at {gpa:#010x} is outside guest RAM")
        vcpu = self.vcpu
        vcpu.medeleg, vcpu.mideleg = DELEGATED, C.S_INTERRUPTS
        vcpu.mcounteren = 0b111
        vcpu.write_pmpaddr(0, 0xFFFFFFFF)       # the vCPU's own PMP: all of its bus, RWX
        vcpu.write_pmpcfg(0, 0x1F)
        vcpu.intercept = {"M"}         # the emulated firmware level: SBI calls
        vcpu.priv, vcpu.pc = 1, entry
        vcpu.translation_changed()

    # -- the run loop's interface ---------------------------------------------------------------
    @property
    def registers(self):
        return self.vcpu.x

    def enter(self, budget):
        """Interpret up to `budget` guest instructions; SBI calls are served here, inline."""
        vcpu, counters = self.vcpu, self.vm.counters
        start = vcpu.instret
        while True:
            left = budget - (vcpu.instret - start)
            if left <= 0:
                break
            before = vcpu.instret
            exit = run_hart(vcpu, left, self.vm.storm)
            counters.emulated(vcpu.instret - before)
            if exit.reason == "storm":
                return VmExit("error", message=STORM)
            if exit.reason == "trap" and exit.cause == ECALL_FROM_S:
                self.vm.sbi.handle(vcpu.x)
                self.complete_instruction()
                break          # back to the run loop: the call may have moved the timer
            elif exit.reason == "budget":
                break
            elif exit.reason == "wfi":
                return VmExit("idle")
            else:
                return VmExit("error", message=f"emulated CPU stopped: {exit.describe()}")
        return VmExit("budget")

    def guest_state(self):
        return guest_state(self.vcpu.x, self.vcpu.pc, self.vcpu.csrs.read)

    def complete_instruction(self):
        self.vcpu.pc = (self.vcpu.pc + 4) & 0xFFFFFFFF
        self.vcpu.retire(1)
        self.vm.counters.emulated(1)

    def inject(self, trap):
        self.vcpu.take_trap(trap)

    def set_timer_pending(self, pending):
        vcpu = self.vcpu
        vcpu.mip_soft = vcpu.mip_soft | C.STIP if pending else vcpu.mip_soft & ~C.STIP

    def timer_enabled(self):
        return bool(self.vcpu.mie & C.STIP)

    def pass_time(self, ticks):
        self.clint.advance(ticks)
