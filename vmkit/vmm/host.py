"""The host: one simulated machine and what a hypervisor allocates on it (x86: KVM's view of the
physical machine: its page allocator, VPID/ASID allocator and EPT pointers).

    host = Host()                                   # a 32 MiB machine with one hart
    root = host.frames.alloc(4, align=4, owner="vm1")   # a 16 KiB-aligned Sv32x4 root
    vmid = host.vmids.alloc()                       # hgatp.VMID for one VM
    host.vmids.free(vmid)                           # hfence.gvma of it, then reusable
    host.frames.free(root)

Frames (`FrameAllocator`) are xv6's kalloc/kfree over host-physical RAM, with one addition: a
request may ask for `count` contiguous frames aligned to `align` frames, because the hardware
needs some (an Sv32x4 G-stage root is 16 KiB, 16 KiB aligned; guest RAM that the G-stage maps
with 4 MiB megapages must be 4 MiB aligned in host memory). Frames are zeroed when handed out,
as kalloc fills them with junk and callers clear them: a new page table must read as all-invalid.

Reserved memory: none. The VMM is Python and there is no host firmware in RAM, so every frame
of host RAM is allocatable. A user that needs a fixed host-physical address (the `native`
engine runs its guest identity-mapped at 0x8000_0000; an engine not yet moved off its fixed
tables) claims it with `frames.reserve(pa, count, owner)` before anything else is allocated.

VMIDs and ASIDs (`IdAllocator`): tags in the TLB, so a world switch need not flush it. Id 0 is
the host's own (satp.ASID 0 for HS-mode, VMID 0 for no guest) and is never handed out. The
widths are probed as the spec says to find VMIDLEN/ASIDLEN: write ones to the field and read it
back (RV32: hgatp.VMID up to 7 bits, satp.ASID up to 9; privileged spec 4.1.11 and 8.2.10).
An id freed may still tag TLB entries of the old owner, so `free` first fences it on the hart
(hfence.gvma for a VMID, sfence.vma for an ASID): a new owner never sees the old translations.

How an engine is meant to use it (the lead moves the engines onto it after issue 13, item 2):

* `Host` owns the one `Machine`; an engine takes `host.machine` / `host.hart` instead of
  building its own.
* Guest RAM and the engine's translation structures come from a `GuestMemory`
  (vmkit/vmm/memory.py), which allocates from `host.frames`:
      mem = GuestMemory(host, [Region("ram", GUEST_RAM, ram_size, contiguous=True,
                                      align=MEGAPAGE)], owner="vm1")
      root = mem.new_root(SV32X4)                  # hw: G-stage root, 16 KiB
      mem.map_region(root, "ram", PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D)
      hart.hgatp = 1 << 31 | host.vmids.alloc() << 22 | root >> 12
  `trap` builds its shadow table the same way with `SV32` and an ASID from `host.asids`.
  PMP: under HS/VS/U the walker's PTE reads are PMP-checked, so give the GuestMemory a
  `table_pool` (one naturally aligned run holding all its tables: `mem.tables.base`,
  `mem.tables.total`) and grant it with one NAPOT entry, as the engines grant G_ROOT today
  (read only: so map leaves with A and D already set, or the walker's A/D write faults);
  `bt` allocates its translation cache and vCPU page with `host.frames.alloc`, maps them with
  `mem.map_pages`, and sets its PMP from the addresses it got.
* Stores to a page are reported through `host.watch_page`, never `hart.watch_page` directly:
  the hart keeps one callback per page, the host keeps a list (a page of guest code can be
  watched by bt's translation cache and by the dirty log at once).
* When a VM goes away: `mem.free()` (returns every frame), `host.vmids.free(vmid)`.
"""

from vmkit.hw.machine import Machine

FRAME = 4096
MAX_HOST_RAM = 512 << 20      # the simulator holds host RAM in one bytearray


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
        ram, at = self.machine.bus.ram, pa - self.machine.bus.ram_base   # (a pool: not 0)
        ram[at:at + count * FRAME] = bytes(count * FRAME)
        for page in range(count):          # the hart may hold code decoded from a past owner
            self.machine.hart.invalidate_code(pa + page * FRAME)
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
    """One machine with one hart, its frame allocator, VMID and ASID allocators."""

    def __init__(self, ram_size=32 << 20, fast=True, output=None):
        if not isinstance(ram_size, int) or ram_size % FRAME or not 0 < ram_size <= MAX_HOST_RAM:
            raise ValueError(f"host RAM must be a multiple of 4 KiB up to "
                             f"{MAX_HOST_RAM >> 20} MiB, not {ram_size!r}")
        self.machine = Machine(ram_size=ram_size, output=output, fast=fast)
        self.hart = self.machine.hart
        self.bus = self.machine.bus
        self.frames = FrameAllocator(self.machine)
        self.vmids = IdAllocator("VMID", self._id_bits(0x680), self._fence_vmid)   # hgatp
        self.asids = IdAllocator("ASID", self._id_bits(0x180), self._fence_asid)   # satp
        self.watchers = {}                 # ppn -> [callback]: see watch_page

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
