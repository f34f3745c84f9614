"""The TLB model: a set-associative cache of finished translations, tagged by ASID and VMID.

x86 names: the ASID is the PCID, the VMID is the VPID (and EPTP tagging); sfence.vma is
INVLPG / a CR3 reload, hfence.vvma is INVVPID, hfence.gvma is INVEPT.

An entry caches one *combined* translation, virtual page -> physical page, with the leaf PTE
bits of each stage (VS or HS, and G when V=1) so permissions can be checked on a hit against the
current privilege and SUM/MXR, as hardware does. A store through an entry whose page is not yet
dirty misses, so the walk can set D in memory (spec 4.3.2 step 7).

`tagged=False` models a TLB without ASID/VMID tags: any change of address space or VM (the MMU
calls `switch` with satp, or vsatp and hgatp, and V) flushes everything - the cost the lecture
attributes to pre-VPID VT-x and to CR3 reloads without PCID. (The tags are still stored: the
TLB then holds one context at a time, so they never tell two apart.) Replacement is FIFO
within a set (hardware mostly uses pseudo-LRU; FIFO keeps a hit down to one dict lookup).
Entries are 4 KiB pages or 4 MiB megapages (Sv32).

Source: RISC-V privileged spec 20211203, sections 4.2.1 (SFENCE.VMA), 4.3.1 (ASID, G bit),
8.3.2 (HFENCE.VVMA, HFENCE.GVMA).
"""

from .paging import PTE_D

MEGA_BITS = 10                   # Sv32: a megapage spans 2**10 4 KiB pages
_CONTEXT_BITS = 18               # key = page number, level, then this many bits of context
_GLOBAL = 1 << 17                # context bit standing in for "any ASID"


class TlbEntry:
    """One cached translation; `flags`/`gflags` are the leaf PTE bits (None = stage is Bare)."""

    __slots__ = ("vpn", "level", "asid", "vmid", "virt", "is_global", "pa_base", "gpa_base",
                 "mask", "flags", "gflags", "dirty", "first_level")

    def __init__(self, vpn, level, asid, vmid, virt, is_global, pa_base, gpa_base,
                 flags, gflags, first_level=None):
        self.level = level                               # 0 = 4 KiB page, 1 = megapage
        # The first stage's (VS or HS) leaf: a guest megapage over 4 KiB G-stage pages makes
        # 4 KiB entries, yet a fence by any address in the megapage must drop them all.
        self.first_level = level if first_level is None else first_level
        self.mask = (1 << (12 + MEGA_BITS * level)) - 1  # page-offset bits
        self.vpn = vpn & ~((1 << (MEGA_BITS * level)) - 1)
        self.asid, self.vmid, self.virt, self.is_global = asid, vmid, virt, is_global
        self.pa_base, self.gpa_base = pa_base, gpa_base
        self.flags, self.gflags = flags, gflags
        self.dirty = all(f is None or f & PTE_D for f in (flags, gflags))

    def covers(self, vaddr: int) -> bool:
        return (vaddr >> 12) & ~(self.mask >> 12) == self.vpn

    def fenced_by(self, vaddr: int) -> bool:
        """SFENCE.VMA / HFENCE.VVMA with rs1 = `vaddr` must drop this entry: it was made from
        the first-stage leaf PTE that translates `vaddr` (spec 4.2.1: the fence invalidates
        entries "that contain leaf page table entries corresponding to" the address)."""
        shift = 12 + MEGA_BITS * self.first_level
        return vaddr >> shift == (self.vpn << 12) >> shift

    def __repr__(self):
        size = "4M" if self.level else "4K"
        return (f"TlbEntry(va={self.vpn << 12:#010x} {size} -> pa={self.pa_base:#x} "
                f"asid={self.asid} vmid={self.vmid} virt={self.virt} global={self.is_global})")


def _key(page_number: int, level: int, context: int) -> int:
    return ((page_number << 1 | level) << _CONTEXT_BITS) | context


class Tlb:
    def __init__(self, entries: int = 64, ways: int = 4, tagged: bool = True):
        if not (isinstance(entries, int) and isinstance(ways, int) and entries > 0 and ways > 0
                and entries % ways == 0):
            raise ValueError(f"TLB needs entries > 0 divisible by ways > 0, "
                             f"got entries={entries!r} ways={ways!r}")
        self.entries, self.ways, self.tagged = entries, ways, tagged
        self.num_sets = entries // ways
        self._map = {}                               # key -> TlbEntry (all sets)
        self._sets = [[] for _ in range(self.num_sets)]   # keys per set, oldest first
        self.context = None                          # what `switch` was last given
        self.reset_stats()

    # -- statistics ----------------------------------------------------------------------
    def reset_stats(self) -> None:
        self.hits = self.misses = self.flushes = self.evictions = 0

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "flushes": self.flushes,
                "evictions": self.evictions, "valid": len(self._map)}

    def __len__(self):
        return len(self._map)

    # -- looking without touching: for the notebooks ------------------------------------
    def cached(self) -> list:
        """Every entry the TLB holds, set by set, oldest first in each set."""
        return [self._map[key] for keys in self._sets for key in keys]

    def probe(self, vpn: int, asid: int, vmid: int, virt: bool):
        """The entry `lookup` would find for virtual page `vpn`, or None; counts nothing."""
        found = self._map
        context = vmid << 1 | virt
        page = vpn << (_CONTEXT_BITS + 1)
        mega = (vpn >> MEGA_BITS << 1 | 1) << _CONTEXT_BITS
        return (found.get(page | asid << 8 | context) or found.get(page | _GLOBAL | context)
                or found.get(mega | asid << 8 | context) or found.get(mega | _GLOBAL | context))

    # -- the hot path --------------------------------------------------------------------
    def lookup(self, vpn: int, asid: int, vmid: int, virt: bool, store: bool = False):
        """The entry translating virtual page `vpn` in this context, or None (a miss).

        `store=True`: an entry whose page is not dirty yet does not count as a hit.
        """
        entry = self.probe(vpn, asid, vmid, virt)
        if entry is None or (store and not entry.dirty):
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def insert(self, entry: TlbEntry) -> None:
        """Cache `entry`, replacing one for the same page and context, else the set's oldest."""
        context = _GLOBAL if entry.is_global else entry.asid << 8
        context |= entry.vmid << 1 | entry.virt
        number = entry.vpn >> (MEGA_BITS * entry.level)
        key = _key(number, entry.level, context)
        if key not in self._map:
            keys = self._sets[number % self.num_sets]
            if len(keys) >= self.ways:
                del self._map[keys.pop(0)]
                self.evictions += 1
            keys.append(key)
        self._map[key] = entry

    # -- fences and context switches -----------------------------------------------------
    def _remove(self, doomed) -> None:
        for key, entry in list(self._map.items()):
            if doomed(entry):
                del self._map[key]
                number = entry.vpn >> (MEGA_BITS * entry.level)
                self._sets[number % self.num_sets].remove(key)

    def flush_all(self) -> None:
        self._map.clear()
        for keys in self._sets:
            keys.clear()
        self.flushes += 1

    def flush_vma(self, vaddr: int | None = None, asid: int | None = None) -> None:
        """SFENCE.VMA from HS-mode: HS-level (V=0) entries; with an ASID, global ones stay."""
        self._fence(False, None, vaddr, asid)

    def flush_vvma(self, vmid: int, vaddr: int | None = None, asid: int | None = None) -> None:
        """HFENCE.VVMA (or SFENCE.VMA in VS-mode): VS-level entries of one VM."""
        self._fence(True, vmid, vaddr, asid)

    def _fence(self, virt, vmid, vaddr, asid) -> None:
        self.flushes += 1
        self._remove(lambda e: e.virt == virt and (vmid is None or e.vmid == vmid)
                     and (vaddr is None or e.fenced_by(vaddr))
                     and (asid is None or (e.asid == asid and not e.is_global)))

    def flush_gvma(self, vmid: int | None = None, gpa: int | None = None) -> None:
        """HFENCE.GVMA: guest entries of one VM (or all), optionally only those through `gpa`.

        A combined entry does not remember the size of its G-stage page, so a flush by address
        drops every entry whose guest-physical page lies in the same 4 MiB region (the largest
        Sv32x4 page): flushing more than asked is always allowed.
        """
        self.flushes += 1
        self._remove(lambda e: e.virt and (vmid is None or e.vmid == vmid)
                     and (gpa is None or e.gpa_base >> 22 == gpa >> 22))

    def switch(self, *context) -> None:
        """The hart now translates in `context` (any values that name an address space: the
        MMU gives satp, or vsatp and hgatp, and V). On a change an untagged TLB forgets all."""
        if not self.tagged and self.context is not None and context != self.context:
            self.flush_all()
        self.context = context
