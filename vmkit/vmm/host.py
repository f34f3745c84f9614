"""The host: one simulated machine and what a hypervisor allocates on it (x86: KVM's view of the
physical machine: its page allocator, VPID/ASID allocator and EPT pointers).

    host = Host()                                   # a 32 MiB machine with one hart
    root = host.frames.alloc(4, align=4, owner="vm1")   # a 16 KiB-aligned Sv32x4 root
    vmid = host.vmids.alloc()                       # hgatp.VMID for one VM
    host.vmids.free(vmid)                           # hfence.gvma of it, then reusable
    host.frames.free(root)

    host = Host(ram_size=64 << 20, policy="credit") # several VMs on one host:
    a = host.create_vm(program, engine="hw", name="a", weight=512)
    b = host.create_vm(program, engine="trap", name="b")
    host.run(1_000_000)                             # -> report(): per VM and host totals

Frames (`FrameAllocator`) are xv6's kalloc/kfree over host-physical RAM, with one addition: a
request may ask for `count` contiguous frames aligned to `align` frames, because the hardware
needs some (an Sv32x4 G-stage root is 16 KiB, 16 KiB aligned; guest RAM that the G-stage maps
with 4 MiB megapages must be 4 MiB aligned in host memory). Frames are zeroed when handed out,
as kalloc fills them with junk and callers clear them: a new page table must read as all-invalid.

Reserved memory: none. The VMM is Python and there is no host firmware in RAM, so every frame
of host RAM is allocatable. The `native` engine runs its guest identity-mapped at 0x8000_0000:
it claims those frames with `frames.reserve` (a `Region(fixed=True)`), so on a shared host it
must be created first, and only one native VM fits (`claim_bare_metal` says why).

VMIDs and ASIDs (`IdAllocator`): tags in the TLB, so a world switch need not flush it. Id 0 is
the host's own (satp.ASID 0 for HS-mode, VMID 0 for no guest) and is never handed out. The
widths are probed as the spec says to find VMIDLEN/ASIDLEN: write ones to the field and read it
back (RV32: hgatp.VMID up to 7 bits, satp.ASID up to 9; privileged spec 4.1.11 and 8.2.10).
An id freed may still tag TLB entries of the old owner, so `free` first fences it on the hart
(hfence.gvma for a VMID, sfence.vma for an ASID): a new owner never sees the old translations.

How the engines use it (engines/base.py, hw.py, trap.py, bt.py, emulate.py):

* Every engine runs on a `Host`: its own private one (`VirtualMachine(program, engine=...)`),
  or a shared one (`host.create_vm(...)`). It takes `host.machine` / `host.hart`.
* Guest RAM and the engine's translation structures come from a `GuestMemory`
  (vmkit/vmm/memory.py), which allocates from `host.frames`: hw's G-stage root and trap's
  shadow table come from a small `table_pool` that one read-only PMP entry grants the walker
  (so leaves are mapped with A and D already set); VMIDs and ASIDs from `vmids`/`asids`; bt
  allocates its translation cache and vCPU page with `frames.alloc` and maps them with
  `mem.map_pages`. PMP is set from the addresses the engine got.
* Stores to a page are reported through `host.watch_page`, never `hart.watch_page` directly:
  the hart keeps one callback per page, the host keeps a list (a page of guest code can be
  watched by bt's translation cache and by the dirty log at once).
* Several VMs: `create_vm` several times, then `run`: the scheduler (scheduler.py) gives each
  VM slices of the hart; `world` (worldswitch.py) saves the outgoing VM's hart context and
  loads the incoming one's. `report()` has the accounting.
"""

from vmkit.hw.machine import Machine

from .scheduler import Scheduler
from .worldswitch import WorldSwitch

FRAME = 4096
MAX_HOST_RAM = 512 << 20      # the simulator holds host RAM in one bytearray


def host_ram(count):
    """Host RAM for `count` guests of 4 MiB (VirtualMachine's default): their RAM, aligned as
    the G-stage's megapages want it, and 8 MiB for the engines' tables and translation caches."""
    return (4 * count + 8) << 20


class HostOutOfMemory(ValueError):
    """No run of free frames satisfies the request (x86 KVM: -ENOMEM from the page allocator)."""


class FrameAllocator:
    """kalloc/kfree for 4 KiB host-physical frames, giving naturally aligned contiguous runs.

    `used` has one byte per frame (1 = allocated), so finding a run is `bytearray.find`; `runs`
    maps the address of each allocated run to (frames, owner), which is what `free` checks.
    By default it manages all host RAM; given `base` and `total` frames, a run of it (a pool).
    """

    def __init__(self, machine, base=None, total=None, name="host"):
        self.machine, self.name = machine, name
        bus = machine.bus
        self.base = bus.ram_base if base is None else base
        self.total = (bus.ram_end - self.base) // FRAME if total is None else total
        self.used = bytearray(self.total)
        self.ever = bytearray(self.total)  # 1: handed out at some time (else still zero)
        self.runs = {}

    # -- kalloc / kfree ---------------------------------------------------------------------
    def alloc(self, count=1, align=1, owner="?"):
        """Host-physical address of `count` zeroed contiguous frames whose first frame number
        is a multiple of `align` (a power of two); raises HostOutOfMemory when none is free."""
        _check_count("count", count)
        _check_count("align", align)
        if align & (align - 1):
            raise ValueError(f"align must be a power of two (frames), not {align}")
        index = 0
        while (index := self.used.find(0, index)) >= 0:         # skip a used stretch at once
            index = self._first_aligned(index, align)
            if index + count > self.total:
                break
            busy = self.used.find(1, index, index + count)
            if busy < 0:
                return self._take(index, count, owner)
            index = busy + 1
        raise HostOutOfMemory(f"{self.name} out of memory: no {count} free contiguous frame(s) "
                              f"aligned to {align} ({self.free_frames} of {self.total} free)")

    def reserve(self, pa, count=1, owner="reserved"):
        """Claim the `count` frames at host-physical `pa` (a fixed placement); zeroes them."""
        _check_count("count", count)
        index = self._index(pa)
        if index + count > self.total or self.used.find(1, index, index + count) >= 0:
            raise HostOutOfMemory(f"frames {pa:#010x} (+{count}) are not all free host RAM")
        return self._take(index, count, owner)

    def free(self, pa):
        """Give back the run allocated at `pa` (xv6 kfree panics on a bad pointer; we raise)."""
        run = self.runs.pop(pa, None) if isinstance(pa, int) else None
        if run is None:
            raise ValueError(f"free of {pa!r}: not the start of an allocated run "
                             "(double free, or a frame this allocator never gave out)")
        index = (pa - self.base) // FRAME
        self.used[index:index + run[0]] = bytes(run[0])

    # -- counts -----------------------------------------------------------------------------
    @property
    def free_frames(self):
        return self.total - self.used.count(1)

    @property
    def used_frames(self):
        return self.total - self.free_frames

    def usage(self):
        """{owner: frames in use}."""
        counts = {}
        for count, owner in self.runs.values():
            counts[owner] = counts.get(owner, 0) + count
        return counts

    def owner_of(self, pa):
        """The owner tag of the run holding host-physical `pa`, or None if it is free."""
        for start, (count, owner) in self.runs.items():
            if start <= pa < start + count * FRAME:
                return owner
        return None

    # -- helpers ----------------------------------------------------------------------------
    def _first_aligned(self, index, align):
        """The first index >= `index` whose host frame number is a multiple of `align`."""
        frame = (self.base // FRAME) + index
        return index + (-frame % align)

    def _index(self, pa):
        if not isinstance(pa, int) or pa % FRAME or not 0 <= pa - self.base < self.total * FRAME:
            raise ValueError(f"{pa!r} is not a frame address in host RAM")
        return (pa - self.base) // FRAME

    def _take(self, index, count, owner):
        self.used[index:index + count] = b"\1" * count
        pa = self.base + index * FRAME
        self.runs[pa] = (count, owner)
        # A frame never handed out is still as the machine was made: zero, with no code
        # decoded from it (nothing but an owner touches host RAM: guests are fenced by PMP).
        # Zeroing only reused runs spares a new VM from writing all of its RAM.
        if self.ever.find(1, index, index + count) >= 0:
            ram, at = self.machine.bus.ram, pa - self.machine.bus.ram_base  # (a pool: not 0)
            ram[at:at + count * FRAME] = bytes(count * FRAME)
            for page in range(count):      # the hart may hold code decoded from a past owner
                self.machine.hart.invalidate_code(pa + page * FRAME)
        self.ever[index:index + count] = b"\1" * count
        return pa


class IdAllocator:
    """VMIDs or ASIDs: 1 .. 2^bits - 1, lowest first; `free` fences the id before reuse."""

    def __init__(self, name, bits, fence):
        self.name, self.bits, self.fence = name, bits, fence
        self.free_ids = set(range(1, 1 << bits))

    def alloc(self):
        if not self.free_ids:
            raise ValueError(f"out of {self.name}s: all {(1 << self.bits) - 1} are in use")
        number = min(self.free_ids)
        self.free_ids.discard(number)
        return number

    def free(self, number):
        if not isinstance(number, int) or not 0 < number < 1 << self.bits \
                or number in self.free_ids:
            raise ValueError(f"free of {self.name} {number!r}: not an allocated {self.name}")
        self.fence(number)                 # its TLB entries must not reach the next owner
        self.free_ids.add(number)

    @property
    def in_use(self):
        return (1 << self.bits) - 1 - len(self.free_ids)


class Host:
    """One machine with one hart, its frame allocator, VMID and ASID allocators; and the VMs
    that share it (`create_vm`, `run`: several VMs on one host)."""

    def __init__(self, ram_size=32 << 20, fast=True, output=None, policy="round_robin",
                 slice=10_000):
        """`output(bytes)`: the host machine's own console. `policy`, `slice`: how `run`
        shares the hart between VMs (vmkit/vmm/scheduler.py)."""
        if not isinstance(ram_size, int) or ram_size % FRAME or not 0 < ram_size <= MAX_HOST_RAM:
            raise ValueError(f"host RAM must be a multiple of 4 KiB up to "
                             f"{MAX_HOST_RAM >> 20} MiB, not {ram_size!r}")
        self.machine = Machine(ram_size=ram_size, output=output, fast=fast)
        self.fast = fast
        self.hart = self.machine.hart
        self.bus = self.machine.bus
        self.frames = FrameAllocator(self.machine)
        self.vmids = IdAllocator("VMID", self._id_bits(0x680), self._fence_vmid)   # hgatp
        self.asids = IdAllocator("ASID", self._id_bits(0x180), self._fence_asid)   # satp
        self.watchers = {}                 # ppn -> [callback]: see watch_page
        self.world = WorldSwitch(self)
        self.scheduler = Scheduler(policy=policy, slice=slice)
        self.vms = {}                      # name -> VirtualMachine, in creation order
        # Called between two slices, when input may reach a VM (io/switch.py delivers there).
        self.between_runs = self.scheduler.between_runs
        self.bare_metal = None             # the engine that owns the machine (native), if any

    # -- several VMs on one host ---------------------------------------------------------------
    def create_vm(self, program, engine="hw", ram_size=4 << 20, name=None, weight=256,
                  cap=None, console=None, quirks=(), fast=None, **options):
        """A new VM on this host, scheduled by `run` (`weight`, `cap`: the credit policy's).
        The arguments are VirtualMachine's (`options`: tlb_tagged, gstage_page, ...);
        `fast` defaults to the host's."""
        from .vm import VirtualMachine      # (vm.py's engines import this module)
        name = f"vm{len(self.vms)}" if name is None else name
        if not isinstance(name, str) or not name or name in self.vms:
            raise ValueError(f"VM name must be a new non-empty string, not {name!r}")
        try:
            vm = VirtualMachine(program, engine=engine, ram_size=ram_size, console=console,
                                quirks=quirks, fast=self.fast if fast is None else fast,
                                host=self, name=name, **options)
        except Exception:
            self._reclaim(name)            # a VM that failed to start leaves nothing behind
            raise
        vm.yield_when_idle = True          # a VM waiting for its timer gives up the hart
        self.scheduler.add(vm, name, weight=weight, cap=cap)
        self.vms[name] = vm
        return vm

    def run(self, max_instructions=10_000_000):
        """Run the VMs for `max_instructions` ticks of host time (or until all have stopped);
        returns `report()`. A guest never stops the host: a VM that stops leaves the queue."""
        self.scheduler.run(max_instructions)
        return self.report()

    def report(self):
        """Host time, utilization, world switches; per VM what it ran and how it stopped."""
        report = self.scheduler.report()
        report["hart_switches"], report["tlb_flushes"] = self.world.switches, self.world.flushes
        for row in report["vms"]:          # a software CPU (emulate) never needs the hart
            row["hart_switches"] = getattr(self.vms[row["name"]].engine, "world_switches", 0)
        return report

    def _reclaim(self, name):
        """Give back what a half-made VM `name` took: its frames, VMID/ASID, the hart."""
        for pa, (_, owner) in list(self.frames.runs.items()):
            if owner == name:
                self.frames.free(pa)
        engine = self.world.current
        if engine is not None and engine.vm.name == name:
            for ids, attribute in ((self.vmids, "vmid"), (self.asids, "asid"),
                                   (self.asids, "user_asid")):
                if getattr(engine, attribute, None) is not None:
                    ids.free(getattr(engine, attribute))
            self.world.forget(engine)
        if self.bare_metal is not None and self.bare_metal.vm.name == name:
            self.bare_metal = None

    def claim_bare_metal(self, engine):
        """The native engine gives its kernel the machine itself: guest-physical = host-physical
        RAM at 0x8000_0000, the real UART, the VMM as its M-mode firmware. A second such kernel
        would need the same RAM and devices: only one per host (as one OS owns a bare machine;
        sharing it is what a hypervisor is for)."""
        if self.bare_metal is not None:
            raise ValueError("this host already runs a native VM: native owns the bare metal "
                             "(its RAM is host RAM at 0x8000_0000, its UART the host's), so a "
                             "host can run only one")
        self.bare_metal = engine

    def _id_bits(self, csr):
        """VMIDLEN / ASIDLEN: write ones to bits 22.. of hgatp / satp and count what sticks."""
        csrs = self.hart.csrs
        old = csrs.read(csr)
        csrs.write(csr, 0x1FF << 22)
        bits = (csrs.read(csr) >> 22 & 0x1FF).bit_length()
        csrs.write(csr, old)
        return bits

    def _fence_vmid(self, vmid):
        self.machine.tlb.flush_gvma(vmid=vmid)          # hfence.gvma zero, vmid
        self.hart.translation_changed()

    def _fence_asid(self, asid):
        self.machine.tlb.flush_vma(asid=asid)           # sfence.vma zero, asid
        self.hart.translation_changed()

    # -- stores to watched pages -----------------------------------------------------------
    def watch_page(self, ppn, callback):
        """Call `callback(paddr)` after every hart store to host page `ppn`, beside any other
        watcher of it. (The hart keeps one callback per page: a second `hart.watch_page`
        replaces the first. A callback installed on the hart directly is kept and chained.
        `hart.reset()` forgets every watcher: watch again after it.)"""
        callbacks = self.watchers.setdefault(ppn, [])
        current = self.hart.watched_pages.get(ppn)
        if current != self._dispatch:
            if current is not None:
                callbacks.append(current)
            self.hart.watch_page(ppn, self._dispatch)
        if callback not in callbacks:      # watching a page twice is watching it
            callbacks.append(callback)

    def unwatch_page(self, ppn, callback):
        callbacks = self.watchers.get(ppn, [])
        if callback in callbacks:
            callbacks.remove(callback)
        if not callbacks and self.watchers.pop(ppn, None) is not None:
            self.hart.watched_pages.pop(ppn, None)        # stores may take the fast path again

    def _dispatch(self, paddr):
        for callback in list(self.watchers.get(paddr >> 12, ())):
            callback(paddr)


def _check_count(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive number of frames, not {value!r}")
