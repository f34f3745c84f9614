"""Guest-physical memory backed by host frames, the page tables that map it, and a dirty log
(x86 KVM: memory slots, KVM_SET_USER_MEMORY_REGION, the EPT, KVM_GET_DIRTY_LOG).

    mem = GuestMemory(host, [Region("ram", 0x8000_0000, 4 << 20, contiguous=True,
                                    align=MEGAPAGE)], owner="vm1")
    mem.write(0x8000_0000, code)                 # the VMM loads the guest
    root = mem.new_root(SV32X4)                  # a G-stage root: 16 KiB, 16 KiB aligned
    mem.map_region(root, "ram", PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D)
    mem.enable_dirty_log("ram"); ...; mem.dirty_pages()    # gpas of pages written since
    mem.free()                                   # every frame back to the host

A region is a range of guest-physical addresses backed by host frames: one run of contiguous
frames when asked (what megapage mappings and fast copies need), else one frame per page, as
Linux backs a KVM memory slot with whatever pages it has.

`map_pages` is xv6's mappages on the page-table formats of vmkit/hw/paging.py: `_pte_slot` walks
down from the root as xv6's walk(alloc=1) does, taking a zeroed frame from the host for each
missing table. It builds Sv32 tables (satp, or a shadow table) and Sv32x4 ones (hgatp: the root
has 2 more index bits, so it is 4 frames; its leaves must have U set, because the G-stage checks
every access as a U-mode access: privileged spec 8.5.1). Leaves are 4 KiB or 4 MiB pages.
Mapping or unmapping does not fence: the caller fences (hfence.gvma / sfence.vma) afterwards.

The dirty log records every page written since it was last cleared, by the VMM through `write`
and by the guest through the hart (its stores to the region's frames are reported by
`host.watch_page`). Writes that go around both (a device model writing host RAM through the bus)
are not seen: such code must write through `GuestMemory.write`. Cost: the first guest store to
a clean page takes the hart's slow path (KVM: a write-protection fault); later ones do not.
"""

from dataclasses import dataclass, field, replace

from vmkit.hw.paging import (PTE_A, PTE_D, PTE_G, PTE_PPN_SHIFT, PTE_R, PTE_U, PTE_V, PTE_W,
                             PTE_X, SV32, SV32X4, page_size)

from .host import FRAME, FrameAllocator

MEGAPAGE = 4 << 20
RWX = PTE_R | PTE_W | PTE_X
LEAF_BITS = PTE_R | PTE_W | PTE_X | PTE_U | PTE_G | PTE_A | PTE_D


@dataclass
class Region:
    """Guest-physical [gpa, gpa + size): page-aligned. `flags`: the PTE permission bits the
    VMM grants when it maps the region (a ROM would be PTE_R | PTE_X). `contiguous`: one run
    of host frames, aligned to `align` bytes in host-physical memory. `fixed`: backed by the
    host frames at the same address (guest-physical = host-physical: the native engine)."""
    name: str
    gpa: int
    size: int
    flags: int = RWX
    contiguous: bool = False
    align: int = FRAME
    fixed: bool = False
    frames: list = field(default_factory=list, repr=False)   # host address of each page
    dirty: set = None                                          # gpas, or None: log off

    @property
    def end(self):
        return self.gpa + self.size


class GuestMemory:
    def __init__(self, host, regions, owner="guest", table_pool=0):
        """`table_pool`: if > 0, a power of two: page tables come from one run of that many
        frames, aligned to its size (so one NAPOT PMP entry covers them all); else each table
        frame comes from the host where it finds one."""
        self.host, self.owner = host, owner
        self.regions = []
        self.runs = []                     # every host run this object allocated (to free)
        self.by_frame = {}                 # host frame -> gpa of its page (ints: no GC work)
        self.roots = {}                    # page-table root -> its PagingMode (new_root)
        self.tables = host.frames          # where page-table frames come from
        try:
            if table_pool:
                if not isinstance(table_pool, int) or table_pool & (table_pool - 1) \
                        or table_pool < 0:
                    raise ValueError(f"table_pool must be a power of two, not {table_pool!r}")
                self.tables = FrameAllocator(host.machine, self._alloc(table_pool, table_pool),
                                             table_pool, name="page-table pool")
            for region in regions:
                self._add(region)
        except Exception:
            self.free()                    # a half-built VM keeps nothing
            raise

    def _add(self, region):
        if not (isinstance(region.gpa, int) and isinstance(region.size, int)
                and region.gpa % FRAME == 0 and region.size % FRAME == 0 and region.size > 0
                and 0 <= region.gpa and region.end <= 1 << SV32X4.address_bits):
            raise ValueError(f"region {region.name!r}: base and size must be 4 KiB multiples "
                             f"inside the 34-bit guest-physical space")
        for other in self.regions:
            if region.gpa < other.end and other.gpa < region.end or region.name == other.name:
                raise ValueError(f"region {region.name!r} overlaps region {other.name!r} "
                                 "or has its name")
        region = replace(region)           # ours: the caller's Region may describe other VMs
        pages = region.size // FRAME
        if region.fixed:
            base = self.host.frames.reserve(region.gpa, pages, owner=self.owner)
            self.runs.append(base)
            region.frames = [base + i * FRAME for i in range(pages)]
        elif region.contiguous:
            base = self._alloc(pages, region.align // FRAME or 1)
            region.frames = [base + i * FRAME for i in range(pages)]
        else:
            region.frames = [self._alloc(1, 1) for _ in range(pages)]
        region.dirty = None
        self.regions.append(region)
        for i, frame in enumerate(region.frames):
            self.by_frame[frame] = region.gpa + i * FRAME

    def _alloc(self, count, align):
        pa = self.host.frames.alloc(count, align, owner=self.owner)
        self.runs.append(pa)
        return pa

    def _table(self, count):
        """`count` zeroed frames for a page table, aligned to `count`."""
        if self.tables is self.host.frames:
            return self._alloc(count, count)
        return self.tables.alloc(count, count, owner="tables")

    def free(self):
        """Return every frame (regions and page tables) to the host; the object is then empty."""
        for region in self.regions:
            self.disable_dirty_log(region.name)
        for pa in self.runs:
            self.host.frames.free(pa)
        self.regions, self.runs, self.by_frame, self.roots = [], [], {}, {}
        self.tables = self.host.frames

    # -- guest-physical -> host-physical ------------------------------------------------------
    def region(self, name):
        for region in self.regions:
            if region.name == name:
                return region
        raise ValueError(f"no region named {name!r}")

    def _find(self, gpa, length):
        """The region holding all of [gpa, gpa + length), or None."""
        if not isinstance(gpa, int) or not isinstance(length, int) or length < 0:
            return None
        for region in self.regions:
            if region.gpa <= gpa and gpa + length <= region.end:
                return region
        return None

    def gpa_to_hpa(self, gpa, length=1):
        """Host-physical address of [gpa, gpa + length) if it lies in one region and in one
        contiguous run of host memory; else None (outside, or crossing)."""
        region = self._find(gpa, length)
        if region is None or gpa == region.end:
            return None
        first = region.frames[(gpa - region.gpa) // FRAME] + gpa % FRAME
        last = gpa + max(length, 1) - 1
        if region.frames[(last - region.gpa) // FRAME] + last % FRAME != first + last - gpa:
            return None
        return first

    def _pieces(self, gpa, length):
        """(host address, start, end) per page of [gpa, gpa + length): start/end index data."""
        region = self._find(gpa, length)
        if region is None:
            return None
        pieces, done = [], 0
        while done < length:
            at = gpa + done
            chunk = min(length - done, FRAME - at % FRAME)
            pieces.append((region.frames[(at - region.gpa) // FRAME] + at % FRAME,
                           done, done + chunk))
            done += chunk
        return region, pieces

    def read(self, gpa, n):
        """n bytes at gpa, or None unless all of them are in one region."""
        found = self._pieces(gpa, n)
        if found is None:
            return None
        bus = self.host.bus
        return b"".join(bus.read_bytes(hpa, end - start) for hpa, start, end in found[1])

    def write(self, gpa, data):
        """Write `data` at gpa (False, and nothing written, unless it fits in one region)."""
        data = bytes(data)
        found = self._pieces(gpa, len(data))
        if found is None:
            return False
        region, pieces = found
        for hpa, start, end in pieces:
            self.host.bus.write_bytes(hpa, data[start:end])
            self.host.hart.invalidate_code(hpa)       # the guest may run what we wrote
            self._mark_dirty(region, (gpa + start) & ~(FRAME - 1))
        return True

    # -- page tables (xv6: walk, mappages, uvmunmap) -------------------------------------------
    def new_root(self, mode=SV32):
        """A zeroed root table: one frame for Sv32 (satp), four, 16 KiB aligned, for Sv32x4
        (hgatp). The tables below it, and the mapping calls given it, use that format."""
        if mode not in (SV32, SV32X4):
            raise ValueError(f"page tables are Sv32 or Sv32x4 here, not {mode!r}")
        frames = 1 << (mode.vpn_bits[-1] - SV32.vpn_bits[-1])
        root = self._table(frames)
        self.roots[root] = mode
        return root

    def map_pages(self, root, va, size, pa, perm, page=FRAME):
        """Map [va, va + size) to [pa, pa + size) with leaves of `page` bytes (4 KiB or 4 MiB)
        and permissions `perm` (PTE bits; V is added). Raises ValueError on a bad argument or
        if a page is already mapped (xv6: panic("mappages: remap")), having mapped nothing.
        Raises HostOutOfMemory if a table frame runs out (what was mapped stays mapped)."""
        mode = self._mode(root, va, size)
        level = _leaf_level(mode, page)
        if not isinstance(pa, int) or not isinstance(perm, int):
            raise ValueError("pa and perm must be integers")
        if va % page or pa % page or size % page:
            raise ValueError(f"va {va:#x}, pa {pa:#x} and size {size:#x} must be multiples of "
                             f"the page size {page:#x}")
        if pa < 0 or pa + size > 1 << 34:
            raise ValueError("pa does not fit the 34-bit physical address space")
        if perm & ~LEAF_BITS or not perm & (PTE_R | PTE_X) or perm & PTE_W and not perm & PTE_R:
            raise ValueError(f"perm {perm:#x}: a leaf needs R or X, W only with R, and no "
                             "bits other than R W X U G A D")
        if mode is SV32X4 and not perm & PTE_U:
            raise ValueError("G-stage leaves need U: the G-stage checks every access as a "
                             "U-mode access (privileged spec 8.5.1)")
        for offset in range(0, size, page):          # check first, so an error maps nothing
            slot = self._pte_slot(mode, root, va + offset, level, alloc=False)
            if slot is not None and self.host.bus.load(slot, 4) & PTE_V:
                raise ValueError(f"remap: va {va + offset:#x} is already mapped")
        for offset in range(0, size, page):
            slot = self._pte_slot(mode, root, va + offset, level, alloc=True)
            self.host.bus.store(slot, 4, (pa + offset) >> 12 << PTE_PPN_SHIFT | perm | PTE_V)

    def map_region(self, root, name, perm):
        """Map a region at its own gpa (identity guest-physical -> its frames): with 4 MiB
        leaves where the region and its host frames allow, else 4 KiB leaves."""
        region = self.region(name)
        gpa = region.gpa
        while gpa < region.end:
            hpa = self.gpa_to_hpa(gpa, MEGAPAGE)
            page = MEGAPAGE if gpa % MEGAPAGE == 0 and hpa is not None \
                and hpa % MEGAPAGE == 0 else FRAME
            self.map_pages(root, gpa, page, hpa if page == MEGAPAGE else
                           self.gpa_to_hpa(gpa), perm & region.flags | perm & ~RWX, page)
            gpa += page

    def unmap_pages(self, root, va, size):
        """Clear the leaves mapping [va, va + size) (each must be mapped, and a megapage wholly
        inside the range). The frames they pointed at are not freed: they belong to regions."""
        mode = self._mode(root, va, size)
        bus, end = self.host.bus, va + size
        while va < end:
            slot, level = self._leaf(mode, root, va)
            length = page_size(mode, level)
            if slot is None or va % length or va + length > end:
                raise ValueError(f"unmap: va {va:#x} is not the start of a mapped page "
                                 "inside the range")
            bus.store(slot, 4, 0)
            va += length

    def _mode(self, root, va, size):
        """The format of `root`'s tables, once [va, va + size) is known to fit in it."""
        mode = self.roots.get(root)
        if mode is None:
            raise ValueError(f"root {root!r} is not a table made by this GuestMemory's new_root")
        if not isinstance(va, int) or not isinstance(size, int) or va < 0 or size <= 0 \
                or va + size > 1 << mode.address_bits:
            raise ValueError(f"va {va!r} and size {size!r} do not fit {mode.name}")
        return mode

    def _pte_slot(self, mode, root, va, level, alloc):
        """Address of the PTE for `va` at `level`, walking down from `root` (xv6 walk):
        allocates missing tables when `alloc`, else None. A leaf above `level` is an error."""
        table, bus = root, self.host.bus
        for depth in range(mode.levels - 1, level, -1):
            slot = table + _index(mode, va, depth) * mode.pte_bytes
            pte = bus.load(slot, 4)
            if pte & PTE_V and pte & (PTE_R | PTE_X):
                raise ValueError(f"remap: va {va:#x} lies in a mapped superpage")
            if not pte & PTE_V:
                if not alloc:
                    return None
                pte = self._table(1) >> 12 << PTE_PPN_SHIFT | PTE_V
                bus.store(slot, 4, pte)
            table = (pte >> PTE_PPN_SHIFT) << 12
        return table + _index(mode, va, level) * mode.pte_bytes

    def _leaf(self, mode, root, va):
        """(PTE address, level) of the valid leaf mapping va, or (None, 0)."""
        table, bus = root, self.host.bus
        for level in range(mode.levels - 1, -1, -1):
            slot = table + _index(mode, va, level) * mode.pte_bytes
            pte = bus.load(slot, 4)
            if not pte & PTE_V:
                return None, 0
            if pte & (PTE_R | PTE_X):
                return slot, level
            table = (pte >> PTE_PPN_SHIFT) << 12
        return None, 0

    # -- the dirty log ------------------------------------------------------------------------
    # As KVM does it: every clean page of a logged region is watched (KVM write-protects it), the
    # first store marks it dirty and unwatches it, so later stores to it run at full speed;
    # clearing the log watches the dirty pages again. A page is watched iff it is clean.
    def enable_dirty_log(self, name):
        """Start recording written pages of region `name` (an empty log)."""
        region = self.region(name)
        if region.dirty is None:
            region.dirty = set()
            self._watch(region, region.frames)

    def disable_dirty_log(self, name):
        region = self.region(name)
        if region.dirty is not None:
            clean = [f for f in region.frames if self.by_frame[f] not in region.dirty]
            region.dirty = None
            for frame in clean:
                self.host.unwatch_page(frame >> 12, self._guest_stored)

    def dirty_pages(self):
        """Sorted gpas of the pages written since the log was enabled or last cleared."""
        return sorted(gpa for region in self.regions if region.dirty for gpa in region.dirty)

    def clear_dirty_log(self, name=None):
        for region in self.regions:
            if region.dirty is not None and name in (None, region.name):
                pages, region.dirty = region.dirty, set()
                self._watch(region, [region.frames[(gpa - region.gpa) // FRAME]
                                     for gpa in pages])

    def _watch(self, region, frames):
        for frame in frames:
            self.host.watch_page(frame >> 12, self._guest_stored)

    def _mark_dirty(self, region, gpa):
        if region.dirty is not None and gpa not in region.dirty:
            region.dirty.add(gpa)
            frame = region.frames[(gpa - region.gpa) // FRAME]
            self.host.unwatch_page(frame >> 12, self._guest_stored)

    def _guest_stored(self, paddr):
        """The hart stored to one of our clean frames: log its guest page (host page -> gpa)."""
        gpa = self.by_frame.get(paddr & ~(FRAME - 1))
        if gpa is not None:
            self._mark_dirty(self._find(gpa, FRAME), gpa)


def _index(mode, va, level):
    shift = 12 + sum(mode.vpn_bits[:level])
    return (va >> shift) & ((1 << mode.vpn_bits[level]) - 1)


def _leaf_level(mode, page):
    for level in range(mode.levels):
        if page_size(mode, level) == page:
            return level
    raise ValueError(f"{mode.name} has no {page:#x}-byte pages")
