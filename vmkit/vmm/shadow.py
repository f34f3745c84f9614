"""Shadow page tables (x86: the shadow MMU of VMware's and pre-EPT KVM's VMMs; the lecture's
*árnyék laptábla*): how a VMM without nested paging virtualizes a guest that pages.

The guest kernel runs deprivileged (trap.py), so the hart's satp is the VMM's. For each guest
address space (the guest's satp root and ASID) the VMM keeps a shadow table that maps
guest-virtual pages straight to host-physical frames: the composition of the guest's table
(guest-virtual -> guest-physical) and the VMM's own map of guest RAM (guest-physical ->
host-physical). The hart walks only shadows; the guest's tables are data it never sees.

A shadow is built lazily, as a TLB is filled. A guest access that misses in it is a page
fault to the VMM, which walks the guest's table as the hardware would (`fill`):
* the guest's table maps the page and allows the access: the VMM sets A (and D) in the guest
  PTE, as the hardware walker would, and copies the translation into the shadow: a *hidden*
  fault, the guest never sees it (x86: a #PF exit the VMM absorbs);
* the guest's table says fault: a *true* page fault, delivered to the guest (scause 12/13/15,
  stval = the virtual address: privileged spec 4.3.2), raised here as a `Trap`.

Coherence: the shadow is a cache of the guest's table, and RISC-V lets hardware keep stale
translations until the guest executes SFENCE.VMA (spec 4.2.1: a PTE write is not seen by
translation before the fence, for the named address and ASID, or all of them). So the VMM
invalidates lazily, on the guest's sfence.vma (`fence`), instead of write-protecting the
guest's page-table pages and tracing every PTE store: a stale shadow entry is exactly a stale
TLB entry, which the spec allows. The guest's ASIDs make the cache per address space sound
too: a guest that edits the table of a space it is not running must fence with that ASID (or
all), so shadows of spaces switched away from can be kept (the slide's HANDLE_CR3 switches
shadows instead of rebuilding). x86 differs: `mov cr3` without PCID flushes the TLB
implicitly, so an OS never fences the spaces it is not in, and VMware had to trace
(write-protect) guest page tables to keep cached shadows.

Accessed/dirty bits: a shadow entry exists only after an access the guest's table allowed,
which set A in the guest PTE; a writable guest page is mapped read-only in the shadow until
its guest PTE has D, so the first store faults and D is set then, exactly when the walker
would set it. (Shadow leaves themselves carry A and D: the walker may not write the table pool.)

Views: virtual S and virtual U both run in real U-mode, so one shadow cannot tell them apart.
Each address space gets one shadow per view: (guest privilege, SUM, MXR). Virtual U sees only
U=1 pages; virtual S sees U=0 pages, and U=1 pages (never executable) only with SUM; MXR makes
execute-only pages readable. A shadow entry never allows what the guest's PTE does not.

Isolation by construction: a shadow leaf maps only a frame of the guest's own RAM
(`host_address`); a guest PTE or table that points anywhere else gives the guest an access
fault (a table) or the VMM an MMIO exit (a leaf). Shadows live in the engine's page-table pool,
which no shadow maps.

Shadows are cached per (root, ASID, view), at most MAX_SHADOWS, the oldest evicted; their
frames go back to the pool (and with the VM to the host). Each shadow is tagged in the TLB
with a host ASID of its own, so switching shadows (the guest's satp writes) flushes nothing
on a tagged TLB, as the guest's own ASIDs promise it (x86: shadow paging with PCID/VPID); an
evicted shadow's ASID is fenced before it is reused. With the host out of ASIDs a shadow gets
none, and the VMM flushes its one ASID on every switch instead.

A VMM may keep 4 MiB slots of every shadow for itself (`fixed`): binary translation (bt.py)
puts its translation cache and vCPU page at the top of the guest's address space, as VMware's
VMM sat in the top 4 MiB of every x86 guest's. A guest mapping there is not shadowed: the
guest's access gets an access fault (on the machine it would reach its page).

Homework 2 hook: `student_shadow_pte`, when set, makes each shadow leaf instead of
`shadow_flags`: `student_shadow_pte(guest_pte, host_frame, user, mxr)` returns the whole leaf
PTE, whose frame must be `host_frame` (a leaf elsewhere would break isolation, so it is refused
with a ValueError before anything is mapped).

Watching fills: set `walk_log` to a list (it may be the hart MMU's `walk_log` too, so both
appear in the order they happened) and each fill appends its `Walk` record: the guest PTEs the
VMM read (stage "guest", guest-physical addresses), the A/D write-back, and the host frame the
shadow now maps (`paddr`). vmkit/pagewalk.py shows a hidden fault with it.
"""

from vmkit.hw.mmu import ACCESS_FAULT, PAGE_FAULT, PPN_MASK, STATUS_MXR, STATUS_SUM, STORE, \
    leaf_allows
from vmkit.hw.paging import (PTE_A, PTE_D, PTE_G, PTE_PPN_SHIFT, PTE_R, PTE_U, PTE_V, PTE_W,
                             PTE_X, SV32, Walk, WalkFault, walk)
from vmkit.hw.trap import Trap

from .host import FRAME, HostOutOfMemory

MAX_SHADOWS = 8
MEGA_SHIFT = 22                   # a root PTE covers 4 MiB


class Shadow:
    """One shadow table: guest-virtual -> host-physical for one address space and view."""

    def __init__(self, key, root, asid):
        self.key, self.root, self.asid = key, root, asid     # asid: None = the VMM's own
        self.pages = set()        # guest-virtual pages mapped
        self.slots = set()        # 4 MiB slots with a leaf table (kept when fences empty it)
        self.mega = set()         # 4 MiB slots filled from a guest megapage (fenced whole)


def view_key(satp, user, status):
    """(root PPN, ASID, user, SUM, MXR): what a shadow is built for. SUM matters to S only."""
    return (satp & PPN_MASK, satp >> 22 & 0x1FF, user,
            not user and bool(status & STATUS_SUM), bool(status & STATUS_MXR))


def shadow_flags(pte, user, mxr):
    """Shadow leaf bits for a guest leaf PTE, seen by `user` (real U-mode runs both views):
    what the guest's PTE allows this view, W only once the guest PTE is dirty."""
    flags = PTE_U | PTE_A | PTE_D
    if pte & PTE_R or mxr and pte & PTE_X:
        flags |= PTE_R
    if pte & PTE_W and pte & PTE_D:
        flags |= PTE_W
    if pte & PTE_X and (user or not pte & PTE_U):      # S never executes user pages
        flags |= PTE_X
    return flags


class ShadowTables:
    """The shadows of one VM: built in `memory`'s page-table pool."""

    def __init__(self, memory, read_guest, write_guest, host_address, asids=None, flush=None):
        """`asids`: the host's ASID allocator (None: no ASID per shadow); `flush(vaddr, asid)`:
        the TLB fence for a shadow's own ASID (vaddr None: all of it)."""
        self.memory, self.asids, self.flush = memory, asids, flush
        self.read_guest, self.write_guest, self.host_address = read_guest, write_guest, \
            host_address
        self.shadows = {}         # key -> Shadow, least recently used first
        self.fixed = lambda key: {}   # key -> {4 MiB slot: root PTE} the VMM keeps for itself
        self.student_shadow_pte = None    # homework 2 (see the module docstring)
        self.stats = {"hidden_faults": 0, "true_faults": 0, "shadow_switches": 0,
                      "shadow_fences": 0, "shadow_evictions": 0}
        self.walk_log = None      # a list: each fill's Walk is appended to it (None: off)

    def get(self, key):
        """The shadow for `key`, made (empty) if there is none; it becomes the most recent."""
        shadow = self.shadows.pop(key, None)
        if shadow is None:
            shadow = Shadow(key, self._frame(lambda: self.memory.new_root(SV32)),
                            self._new_asid())
            for slot, pte in self.fixed(key).items():
                self.memory.host.bus.store(shadow.root + 4 * slot, 4, pte)
        self.shadows[key] = shadow
        while len(self.shadows) > MAX_SHADOWS:
            self._evict(next(iter(self.shadows)))          # the oldest (never `key`: newest)
        return shadow

    # -- a hidden or a true fault ---------------------------------------------------------
    def fill(self, shadow, satp, vaddr, access, user, sum_, mxr, why="hidden fault"):
        """Walk the guest's table for an access that missed in `shadow` (spec 4.3.2); set A/D
        in the guest PTE and map the page in `shadow`. Returns the guest-physical address;
        the page is mapped only if it is guest RAM. Raises Trap: a true fault for the guest."""
        def read_pte(gpa):
            data = self.read_guest(gpa, 4)
            if data is None:      # a table outside guest RAM: PMP denies the walker
                raise Trap(ACCESS_FAULT[access], vaddr)
            return int.from_bytes(data, "little")

        record = Walk(vaddr)
        record.why = why          # (bt also fills to read the code it translates)
        if self.walk_log is not None:
            self.walk_log.append(record)
        try:
            pte, level, pte_gpa, gpa = walk(SV32, satp & PPN_MASK, vaddr, read_pte, "guest",
                                            record.references)
        except WalkFault as fault:
            record.fault = fault
            raise Trap(PAGE_FAULT[access], vaddr) from None
        if not leaf_allows(pte, access, user, sum_, mxr):
            record.fault = WalkFault("the guest's leaf PTE does not permit this access", level)
            raise Trap(PAGE_FAULT[access], vaddr)
        if vaddr >> MEGA_SHIFT in self.fixed(shadow.key):
            record.fault = WalkFault("the VMM keeps this 4 MiB of the address space", level)
            raise Trap(ACCESS_FAULT[access], vaddr)
        updated = pte | PTE_A | (PTE_D if access == STORE else 0)
        if updated != pte:
            self.write_guest(pte_gpa, updated.to_bytes(4, "little"))
            record.updates.append(("guest", pte_gpa, updated))
        hpa = self.host_address(gpa & ~(FRAME - 1), FRAME)
        record.gpa = gpa
        if hpa is not None:
            record.paddr, record.page_size = hpa | (vaddr & (FRAME - 1)), FRAME
            self._map(shadow, vaddr & ~(FRAME - 1), hpa,
                      self._leaf_flags(updated, hpa, user, mxr))
            if level:
                shadow.mega.add(vaddr >> MEGA_SHIFT)
        return gpa

    def lookup(self, satp, vaddr, access, user, sum_, mxr):
        """The guest-physical address the guest's table gives `vaddr` for this access, or None
        if it faults; a walk that only reads (no A/D), for a VMM checking what it cached."""
        def read_pte(gpa):
            data = self.read_guest(gpa, 4)
            if data is None:
                raise WalkFault("a table outside guest RAM", 0)
            return int.from_bytes(data, "little")

        try:
            pte, _, _, gpa = walk(SV32, satp & PPN_MASK, vaddr, read_pte)
        except WalkFault:
            return None
        return gpa if leaf_allows(pte, access, user, sum_, mxr) else None

    def _new_asid(self):
        if self.asids is None:
            return None
        try:
            return self.asids.alloc()
        except ValueError:        # the host has none left: this shadow shares the VMM's
            return None

    def _flush(self, shadow, vaddr=None):
        if shadow.asid is not None:
            self.flush(vaddr, shadow.asid)

    def _leaf_flags(self, pte, hpa, user, mxr):
        """The shadow leaf's bits but V (map_pages adds V): shadow_flags', or the student's."""
        if self.student_shadow_pte is None:
            return shadow_flags(pte, user, mxr)
        leaf = self.student_shadow_pte(pte, hpa, user, bool(mxr))
        if isinstance(leaf, bool) or not isinstance(leaf, int) or not leaf & PTE_V \
                or leaf >> PTE_PPN_SHIFT << 12 != hpa or leaf >> 32:
            raise ValueError(f"shadow_pte gave {leaf!r}: a leaf PTE must be a 32-bit int with "
                             f"V set and the frame host_frame ({hpa:#x})")
        # Never global: a G leaf would outlive the shadow's ASID fences, even into other VMs.
        return leaf & 0xFF & ~(PTE_V | PTE_G)

    def _map(self, shadow, va, hpa, flags):
        if va in shadow.pages:    # an upgrade (read-only until dirty): replace the leaf
            self.memory.unmap_pages(shadow.root, va, FRAME)
            shadow.pages.discard(va)
        self._frame(lambda: self.memory.map_pages(shadow.root, va, FRAME, hpa, flags),
                    keep=shadow)
        shadow.pages.add(va)
        shadow.slots.add(va >> MEGA_SHIFT)

    # -- sfence.vma -------------------------------------------------------------------------
    def fence(self, vaddr=None, asid=None):
        """The guest's sfence.vma: forget what it may have changed (rs1 = vaddr, rs2 = asid;
        None = x0). More is forgotten than asked where cheaper: always allowed."""
        self.stats["shadow_fences"] += 1
        for key, shadow in list(self.shadows.items()):
            if asid is not None and key[1] != asid:
                continue
            if vaddr is None:
                self._drop(key)
                continue
            slot = vaddr >> MEGA_SHIFT
            doomed = [va for va in shadow.pages if va >> MEGA_SHIFT == slot] \
                if slot in shadow.mega else [vaddr & ~(FRAME - 1)]
            for va in doomed:
                if va in shadow.pages:
                    self.memory.unmap_pages(shadow.root, va, FRAME)
                    shadow.pages.discard(va)
                    self._flush(shadow, va)
            shadow.mega.discard(slot)

    def clear(self):
        for key in list(self.shadows):
            self._drop(key)

    # -- frames -----------------------------------------------------------------------------
    def _frame(self, allocate, keep=None):
        """Run `allocate` (it takes pool frames), evicting the oldest shadows (not `keep`) while
        the pool is empty; with nothing left to evict, `keep` starts over empty."""
        while True:
            try:
                return allocate()
            except HostOutOfMemory:
                victims = [key for key, s in self.shadows.items() if s is not keep]
                if victims:
                    self._evict(victims[0])
                elif keep is not None and keep.slots:
                    self.stats["shadow_evictions"] += 1
                    self._reset(keep)
                else:
                    raise

    def _evict(self, key):
        self.stats["shadow_evictions"] += 1
        self._drop(key)

    def _drop(self, key):
        shadow = self.shadows.pop(key)
        self._reset(shadow)
        self.memory.roots.pop(shadow.root, None)
        self.memory.tables.free(shadow.root)
        if shadow.asid is not None:
            self.asids.free(shadow.asid)          # (which fences it for the next owner)

    def _reset(self, shadow):
        """Free the shadow's leaf tables and clear its root: an empty shadow."""
        bus = self.memory.host.bus
        for slot in shadow.slots:
            pte = bus.load(shadow.root + 4 * slot, 4)
            if pte & PTE_V:
                self.memory.tables.free((pte >> PTE_PPN_SHIFT) << 12)
                bus.store(shadow.root + 4 * slot, 4, 0)
        shadow.pages.clear()
        shadow.slots.clear()
        shadow.mega.clear()
        self._flush(shadow)
