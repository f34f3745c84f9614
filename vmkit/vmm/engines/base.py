"""What the engines whose guest code runs on the host hart share (native, trap, pv, bt, hw):
a host (vmkit/vmm/host.py: the machine, its frames, VMIDs and ASIDs; a private one unless the
VM was made by `Host.create_vm`), guest RAM as a `GuestMemory` region backed by host frames,
and turning the hart's exits into VM exits. The interface itself is engine.py.

Each engine asks the host for everything it places in host memory (guest RAM, its page tables
from a small pool that one PMP entry covers, bt's translation cache) and sets PMP from the
addresses it got, so several VMs fit side by side. Before it touches the hart an engine puts
its VM there (`host.world.activate`): the hart may have been running another VM.
"""

from vmkit.hw.machine import run_hart
from vmkit.hw.pmp import A_SHIFT, NAPOT, R, W, X

from ..exits import STORM, ExitReason, VmExit
from ..host import FRAME, Host, HostOutOfMemory
from ..layout import GUEST_RAM
from ..memory import MEGAPAGE, GuestMemory, Region
from .engine import Engine, pages


def napot(base, size):
    """pmpaddr for a naturally aligned power-of-two region (privileged spec 3.7.1)."""
    return (base >> 2) | ((size >> 3) - 1)


PMP_RWX = R | W | X | NAPOT << A_SHIFT
PMP_RW = R | W | NAPOT << A_SHIFT
PMP_R = R | NAPOT << A_SHIFT


class HartEngine(Engine):
    """An engine whose guest code runs directly on the host hart."""

    host_ram_size = 32 << 20           # a private host's RAM
    bare_metal = False                 # the guest owns the machine (native): one per host
    table_pool = 4                     # frames for the engine's page tables (one PMP entry)

    def __init__(self, vm, host=None):
        self.vm = vm
        self.host = Host(self.host_ram_size, fast=vm.fast) if host is None else host
        self.machine = self.host.machine
        self.hart = self.cpu = self.host.hart          # `cpu`: what runs guest code
        self.world_switches = 0                        # times the VM came back onto the hart
        if self.bare_metal:
            self.host.claim_bare_metal(self)
        try:
            self.memory = GuestMemory(self.host, [self.ram_region()], owner=vm.name,
                                      table_pool=self.table_pool)
        except HostOutOfMemory as error:
            if self.bare_metal:
                self.host.bare_metal = None
                raise ValueError(f"{error}: a native VM needs the host RAM at its guest "
                                 "addresses: create it first on its host") from None
            raise
        self.ram_base = self.memory.region("ram").frames[0]     # host-physical, contiguous

    def ram_region(self):
        """Guest RAM in whole 4 MiB megapages, 4 MiB aligned in host memory, so page tables
        map it with megapage leaves; PMP ends it at exactly ram_size (an access past it is an
        access fault, as on a board with that much RAM). A NAPOT PMP entry covers a region
        aligned to its size, so RAM above 4 MiB is aligned to its own size."""
        size = max(self.vm.ram_size, MEGAPAGE)
        return Region("ram", GUEST_RAM, size, contiguous=True, align=size)

    # -- guest memory ---------------------------------------------------------------------------
    def host_address(self, gpa, length=1):
        """Host-physical address of guest-physical `gpa`, or None outside guest RAM."""
        if GUEST_RAM <= gpa and gpa + length <= GUEST_RAM + self.vm.ram_size and length >= 0:
            return self.ram_base + (gpa - GUEST_RAM)
        return None

    def read_guest(self, gpa, length):
        if self.host_address(gpa, length) is None:
            return None
        return self.memory.read(gpa, length)

    def write_guest(self, gpa, data):
        if self.host_address(gpa, len(data)) is None:
            return False
        self.memory.write(gpa, data)                  # (and the dirty log sees it)
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
        self.host.world.install(self, lambda: self._setup(entry))

    def _setup(self, entry):
        self.hart.fast = self.vm.fast
        self.setup(entry)

    def table_pmp(self):
        """The PMP entry granting the walker (read-only) the engine's page-table pool."""
        return (self.memory.tables.base, self.memory.tables.total * FRAME, PMP_R)

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
    def activate(self):
        self.host.world.activate(self)

    def mmu_counters(self):
        # The hart's MMU counts for every VM on it: the world switch books each VM's share.
        return self.host.world.mmu_counters(self)

    def guest_state(self):
        self.activate()
        return super().guest_state()

    def save_state(self):
        self.activate()                   # the hart holds this VM's CPU only while it runs
        return super().save_state()

    def load_state(self, state):
        self.activate()
        super().load_state(state)

    def enter(self, budget):
        hart = self.hart                  # (on the hart: the run loop activated this VM)
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
    """Program PMP entries (base, size, cfg) as the firmware would, lowest index first. At
    most 4: they share pmpcfg0 (RV32: four 8-bit fields per pmpcfg register)."""
    if len(entries) > 4:
        raise ValueError(f"{len(entries)} PMP entries: pmpcfg0 holds 4")
    for index, (base, size, cfg) in enumerate(entries):
        hart.write_pmpaddr(index, napot(base, size))
    config = 0
    for index, (_, _, cfg) in enumerate(entries):
        config |= cfg << (8 * index)
    hart.write_pmpcfg(0, config)
