"""What the engines whose guest code runs on the host hart share (native, trap, pv, bt, hw):
a host machine, guest RAM carved out of it, and turning the hart's exits into VM exits.
The interface itself is engine.py.
"""

from vmkit.hw.machine import Machine, run_hart
from vmkit.hw.pmp import A_SHIFT, NAPOT, R, W, X

from ..exits import STORM, ExitReason, VmExit
from ..layout import GUEST_RAM
from .engine import Engine, pages


def napot(base, size):
    """pmpaddr for a naturally aligned power-of-two region (privileged spec 3.7.1)."""
    return (base >> 2) | ((size >> 3) - 1)


PMP_RWX = R | W | X | NAPOT << A_SHIFT
PMP_RW = R | W | NAPOT << A_SHIFT
PMP_R = R | NAPOT << A_SHIFT


class HartEngine(Engine):
    """An engine whose guest code runs directly on the host hart."""

    host_ram_size = 32 << 20
    guest_base = 0x8000_0000           # host-physical address of guest RAM

    def __init__(self, vm):
        self.vm = vm
        self.machine = Machine(ram_size=self.host_ram_size, output=vm.console_write,
                               fast=vm.fast)
        self.hart = self.cpu = self.machine.hart      # `cpu`: what runs guest code
        if not self.machine.bus.is_ram(self.guest_base, vm.ram_size):
            raise ValueError("guest RAM does not fit in the host machine")

    # -- guest memory ---------------------------------------------------------------------------
    def host_address(self, gpa, length=1):
        """Host-physical address of guest-physical `gpa`, or None outside guest RAM."""
        if GUEST_RAM <= gpa and gpa + length <= GUEST_RAM + self.vm.ram_size and length >= 0:
            return self.guest_base + (gpa - GUEST_RAM)
        return None

    def read_guest(self, gpa, length):
        address = self.host_address(gpa, length)
        return None if address is None else self.machine.bus.read_bytes(address, length)

    def write_guest(self, gpa, data):
        address = self.host_address(gpa, len(data))
        if address is None:
            return False
        self.machine.bus.write_bytes(address, data)
        self.guest_memory_written(gpa, len(data))
        return True

    def guest_memory_written(self, gpa, length):
        """The VMM wrote guest RAM (a load, an SBI console read, DMA, a restore): the guest
        may run what we wrote, so forget the code compiled from every page it touched."""
        for page in pages(gpa, length):
            self.hart.invalidate_code(self.host_address(page))

    def load(self, segments, entry):
        for gpa, data, memsize in segments:
            if not self.write_guest(gpa, bytes(data) + bytes(memsize - len(data))):
                raise ValueError(f"guest segment at {gpa:#010x} ({memsize} bytes) is outside "
                                 f"guest RAM ({GUEST_RAM:#010x}, {self.vm.ram_size} bytes)")
        self.setup(entry)

    def setup(self, entry):
        raise NotImplementedError

    # -- the guest's CPU -----------------------------------------------------------------------
    def fault_address(self, exit):
        return self.last_tval

    def pass_time(self, ticks):
        self.machine.clint.advance(ticks)

    def instruction_at_pc(self):
        """The guest's instruction word at pc, read as the guest sees it (HLVX-style)."""
        hart = self.hart
        return hart.load_physical(hart.pc, 4, hart.priv, hart.virt, hlvx=True)

    # -- running -----------------------------------------------------------------------------------
    def enter(self, budget):
        hart = self.hart
        before = hart.instret
        exit = run_hart(hart, budget, self.vm.storm)
        self.vm.counters.direct(hart.instret - before)
        if exit.reason == "storm":
            return VmExit(ExitReason.ERROR, message=STORM)
        if exit.reason == "budget":
            return VmExit(ExitReason.BUDGET)
        if exit.reason == "wfi":
            return VmExit(ExitReason.IDLE)
        if exit.reason == "trap":
            self.last_tval = exit.tval
            return self.trap_exit(exit)
        return VmExit(ExitReason.ERROR, message=f"host machine stopped: {exit.describe()}",
                      traceback=exit.traceback)

    def trap_exit(self, exit):
        raise NotImplementedError


def guest_pmp(hart, entries):
    """Program PMP entries (base, size, cfg) as the firmware would, lowest index first."""
    for index, (base, size, cfg) in enumerate(entries):
        hart.write_pmpaddr(index, napot(base, size))
    config = 0
    for index, (_, _, cfg) in enumerate(entries):
        config |= cfg << (8 * index)
    hart.write_pmpcfg(0, config)
