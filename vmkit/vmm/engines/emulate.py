"""`emulate`: pure emulation (tiszta emuláció). The VMM interprets every guest instruction in
software; the host CPU never runs guest code.

The software CPU is a vCPU record with an interpreter: vmkit's own `Hart`, instantiated a second
time inside the VMM over a *guest-physical* bus (the guest's RAM, carved out of host RAM, and the
VMM's UART model). So the guest's CSRs, traps and its own MMU walks are all done by software,
the way Bochs or QEMU's TCG do it. There are no exits: a device access is just another step of
the interpreter, and SBI calls are served inline. Everything costs emulation: the cost model
charges every guest instruction at the emulator's price.

Memory: the software MMU walks the guest's own page tables (its TLB and walks are counted as
the hart's are: vm.counters, walk_references_hs), and the second translation, guest-physical
to host, is the software CPU's bus: one contiguous region, an offset rather than a table walk
(QEMU's softmmu TLB likewise maps guest-virtual straight to host addresses). `tlb_tagged=False`
makes its TLB forget everything on every guest address-space switch.

Source: DESIGN §3; the lecture's claim 1 ("works, but is not efficient").
"""

from vmkit.hw import csr as C
from vmkit.hw.bus import Bus
from vmkit.hw.devices import Clint
from vmkit.hw.hart import Hart
from vmkit.hw.machine import run_hart
from vmkit.hw.trap import ECALL_FROM_S

from ..exits import STORM, ExitReason, VmExit
from ..host import Host
from ..io import CountedDevice
from ..layout import GUEST_RAM
from ..memory import GuestMemory, Region
from .engine import Engine, pages
from .native import DELEGATED


class EmulateEngine(Engine):
    name = "emulate"
    title = "pure emulation: a software CPU interprets every instruction"
    software_cpu = True
    paging_mode = "soft"               # the software CPU's MMU walks the guest's tables
    host_ram_size = 32 << 20           # a private host's RAM

    def __init__(self, vm, host=None):
        self.vm = vm
        self.host = Host(self.host_ram_size, fast=vm.fast) if host is None else host
        self.machine = self.host.machine                         # runs the VMM
        # Guest RAM: host frames, one contiguous run, which the software CPU's bus sees as
        # its RAM at the guest-physical address.
        self.memory = GuestMemory(self.host, [Region("ram", GUEST_RAM, vm.ram_size,
                                                     contiguous=True)], owner=vm.name)
        at = self.memory.region("ram").frames[0] - self.machine.bus.ram_base
        guest_ram = memoryview(self.machine.bus.ram)[at:at + vm.ram_size]
        self.bus = Bus(GUEST_RAM, ram=guest_ram)                # what the guest can reach
        for base, _, device in vm.devices.regions:
            self.bus.attach(base, CountedDevice(device, vm, base))
        self.clint = Clint()                                     # guest time for rdtime
        # The guest PLIC is the software CPU's PLIC: mip.SEIP is computed as on hardware.
        self.vcpu = self.cpu = Hart(self.bus, clint=self.clint, plic=vm.plic)
        self.vcpu.fast = vm.fast
        self.vcpu.mmu.tlb.tagged = vm.tlb_tagged

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
                return VmExit(ExitReason.ERROR, message=STORM)
            if exit.reason == "trap" and exit.cause == ECALL_FROM_S:
                if not self.vm.call_sbi(vcpu.x):
                    return VmExit(ExitReason.ERROR, message="the SBI failed")
                self.complete_instruction()
                break          # back to the run loop: the call may have moved the timer
            elif exit.reason == "budget":
                break
            elif exit.reason == "wfi":
                return VmExit(ExitReason.IDLE)
            else:
                return VmExit(ExitReason.ERROR,
                              message=f"emulated CPU stopped: {exit.describe()}",
                              traceback=exit.traceback)
        return VmExit(ExitReason.BUDGET)

    def pass_time(self, ticks):
        self.clint.advance(ticks)
