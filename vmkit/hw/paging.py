"""Page-table formats and the level-generic page-table walk (x86: the "page walker" of CR3 / EPT).

A RISC-V page table is a radix tree: each level indexes a table of PTEs with some bits of the
virtual address; a PTE with R, W or X set is a leaf (a 4 KiB page at level 0, a "superpage" at
higher levels), a valid PTE with R=W=X=0 points to the next table. One `PagingMode` describes
each format, so the same `walk` serves Sv32 (the hart's, 2 levels), Sv39/Sv48 (3 and 4 levels,
for the notebooks) and the G-stage "x4" formats of the H extension, whose root table has two
extra index bits (16 KiB root) so a guest-physical address is 2 bits wider than a virtual one.

`walk` does the structural part of the spec's algorithm: steps 1-4 (read PTEs down to a leaf,
invalid and reserved encodings fault) and step 6 (misaligned superpage). Permission checks and
the A/D update (steps 5 and 7) depend on privilege and status bits, so the MMU does them.

`simulate_walk` runs a one- or two-stage walk over a dict "memory", with no hart, so a notebook
can draw a 4 x 4-level nested walk: (n+1)(m+1)-1 = 24 references.

Source: RISC-V privileged spec 20211203, sections 4.3 (Sv32), 4.3.2 (the walk), 4.4/4.5 (Sv39,
Sv48), 8.5.1 (Sv32x4, Sv39x4, Sv48x4).
"""

from typing import NamedTuple

# PTE bits (spec figure 4.18), the same in every format.
PTE_V, PTE_R, PTE_W, PTE_X, PTE_U, PTE_G, PTE_A, PTE_D = (1 << i for i in range(8))
PTE_PPN_SHIFT = 10
PAGE_SHIFT = 12


class PagingMode(NamedTuple):
    """One page-table format.

    vpn_bits[i] is the width of the index used at level i (level 0 = leaf tables, the root is
    level `levels - 1`, as the spec numbers them). `sign_extended` formats require the unused
    high address bits to copy the top bit (Sv39/Sv48 virtual addresses); the others require them
    to be zero (guest-physical addresses of the x4 formats, and Sv32, which uses all 32 bits).
    """
    name: str
    levels: int
    vpn_bits: tuple
    pte_bytes: int
    ppn_bits: int                # width of the PTE's PPN field
    page_offset_bits: int = PAGE_SHIFT
    sign_extended: bool = False
    xlen: int = 32               # width of the register holding the address

    @property
    def address_bits(self) -> int:
        return self.page_offset_bits + sum(self.vpn_bits)


SV32 = PagingMode("Sv32", 2, (10, 10), 4, 22)
SV32X4 = PagingMode("Sv32x4", 2, (10, 12), 4, 22)
SV39 = PagingMode("Sv39", 3, (9, 9, 9), 8, 44, sign_extended=True, xlen=64)
SV48 = PagingMode("Sv48", 4, (9, 9, 9, 9), 8, 44, sign_extended=True, xlen=64)
SV39X4 = PagingMode("Sv39x4", 3, (9, 9, 11), 8, 44, xlen=64)
SV48X4 = PagingMode("Sv48x4", 4, (9, 9, 9, 11), 8, 44, xlen=64)


class WalkFault(Exception):
    """The walk found no valid translation: becomes a page fault or guest-page fault.

    `reason` says why in words (for the notebooks); `level` is where it happened.
    """

    def __init__(self, reason: str, level: int = -1):
        super().__init__(reason)
        self.reason = reason
        self.level = level


class Ref(NamedTuple):
    """One memory reference of a walk: a PTE read.

    address is in the address space the table lives in: host-physical for the HS and G stages,
    guest-physical for the VS stage (the G-stage references just before it translated it) and
    for "guest", the guest's own table read in software by a VMM that keeps shadow page tables
    (vmkit/vmm/shadow.py). `nested`: a G-stage read that translated the address of a VS-stage
    PTE, the second dimension of the 2D walk (`references_2d`), which a native walk never makes.
    """
    stage: str                   # "HS", "VS", "G" or "guest"
    level: int
    address: int
    pte: int
    nested: bool = False


def mark_nested(refs: list, start: int) -> None:
    """The G-stage reads refs[start:] translated a VS-stage PTE's address: mark them nested."""
    refs[start:] = [ref._replace(nested=True) for ref in refs[start:]]


class Walk:
    """Everything one translation walk did, in order: for the notebooks' walk diagrams."""

    def __init__(self, vaddr: int):
        self.vaddr = vaddr
        self.references = []     # Ref, in the order they were made
        self.updates = []        # (stage, address, new pte): A/D write-backs
        self.paddr = None        # result (None while the walk has not completed)
        self.why = None          # a VMM's software walk: what it was for (vmm/shadow.py)
        self.gpa = None          # the guest-physical address, for two-stage walks
        self.page_size = 0
        self.fault = None        # the WalkFault / Trap that ended it, if any
        self.entry = None        # the TLB entry it left (vmkit/hw/tlb.py TlbEntry), if any

    def __str__(self):
        lines = [f"walk of {self.vaddr:#010x}: {len(self.references)} references"]
        header = f"  {'#':>2} {'stage':<5} {'level':>5} {'address':>12} {'pte':>12}"
        if any(ref.stage == "VS" for ref in self.references):
            header += "   (VS addresses are guest-physical)"
        lines.append(header)
        for n, ref in enumerate(self.references, 1):
            lines.append(f"  {n:>2} {ref.stage:<5} {ref.level:>5} {ref.address:>#12x} "
                         f"{ref.pte:>#12x}  {describe_pte(ref.pte)}"
                         + ("  (for a VS PTE's address)" if ref.nested else ""))
        for stage, address, pte in self.updates:
            lines.append(f"     {stage:<5} write {address:>#12x} {pte:>#12x}  (A/D update)")
        if self.gpa is not None:
            lines.append(f"  guest-physical {self.gpa:#x}")
        if self.paddr is not None:
            lines.append(f"  -> physical {self.paddr:#x} (page size {self.page_size:#x})")
        if self.fault is not None:
            lines.append(f"  fault: {getattr(self.fault, 'reason', None) or repr(self.fault)}")
        return "\n".join(lines)


def describe_pte(pte: int) -> str:
    """Flag letters as the spec names them, e.g. 'DA-U-XWRV'; 'invalid' when V=0."""
    if not pte & PTE_V:
        return "invalid"
    return "".join(ch if pte & (1 << bit) else "-" for bit, ch in
                   zip(range(7, -1, -1), "DAGUXWRV"))


def references_2d(guest_levels: int, host_levels: int) -> int:
    """Memory references of a nested walk with empty TLBs and walk caches.

    Each of the n guest PTE addresses is guest-physical and needs an m-level host walk first
    (n*m + n), and the final guest-physical address needs one more host walk (m):
    n*m + n + m = (n+1)(m+1) - 1. Sv32 x Sv32x4: 8; 4 x 4 levels (x86 EPT, Sv48 x Sv48x4): 24.
    """
    return (guest_levels + 1) * (host_levels + 1) - 1


def walk(mode: PagingMode, root_ppn: int, vaddr: int, read_pte, stage: str = "HS",
         refs: list | None = None):
    """Walk the page table rooted at `root_ppn` for `vaddr` (spec 4.3.2 steps 1-4 and 6).

    read_pte(address) returns the PTE stored at `address` (in this stage's table address
    space); it may raise (a PMP or bus error, or a G-stage fault for a VS-stage table). Every PTE
    read is appended to `refs` as a `Ref`. Returns (pte, level, pte_address, paddr) for the leaf;
    raises `WalkFault` when the tables give no valid leaf.
    """
    check_address(mode, vaddr)
    offset_bits = mode.page_offset_bits
    table = root_ppn << offset_bits
    level = mode.levels - 1
    while True:
        shift = offset_bits + sum(mode.vpn_bits[:level])
        index = (vaddr >> shift) & ((1 << mode.vpn_bits[level]) - 1)
        pte_address = table + index * mode.pte_bytes
        pte = read_pte(pte_address)
        if refs is not None:
            refs.append(Ref(stage, level, pte_address, pte))
        if not pte & PTE_V:
            raise WalkFault(f"invalid PTE (V=0) at level {level}", level)
        if pte >> (PTE_PPN_SHIFT + mode.ppn_bits):
            raise WalkFault(f"reserved high PTE bits set at level {level}", level)
        if pte & PTE_W and not pte & PTE_R:
            raise WalkFault(f"reserved encoding W=1 R=0 at level {level}", level)
        ppn = (pte >> PTE_PPN_SHIFT) & ((1 << mode.ppn_bits) - 1)
        if pte & (PTE_R | PTE_X):
            break
        if level == 0:
            raise WalkFault("pointer PTE at level 0 (no leaf)", level)
        level -= 1
        table = ppn << offset_bits
    # Step 6: a superpage's PPN must be aligned to its size, else the PTE is misaligned.
    low_bits = sum(mode.vpn_bits[:level])
    if ppn & ((1 << low_bits) - 1):
        raise WalkFault(f"misaligned superpage at level {level}", level)
    page_mask = (1 << (offset_bits + low_bits)) - 1
    paddr = ((ppn << offset_bits) & ~page_mask) | (vaddr & page_mask)
    return pte, level, pte_address, paddr


def check_address(mode: PagingMode, vaddr: int) -> None:
    """Spec 4.4.1/8.5.1: bits above the format's width must copy the top bit (VA) or be 0 (GPA)."""
    width = mode.address_bits
    high = vaddr >> width
    if mode.sign_extended:
        top_ones = (1 << (mode.xlen - width)) - 1
        if not (high == 0 and not vaddr >> (width - 1) & 1
                or high == top_ones and vaddr >> (width - 1) & 1):
            raise WalkFault(f"address {vaddr:#x} is not sign-extended from bit {width - 1}")
    elif high:
        raise WalkFault(f"address {vaddr:#x} is wider than {width} bits")


def page_size(mode: PagingMode, level: int) -> int:
    return 1 << (mode.page_offset_bits + sum(mode.vpn_bits[:level]))


def simulate_walk(mode: PagingMode, root_ppn: int, vaddr: int, memory: dict,
                  g_mode: PagingMode | None = None, g_root_ppn: int = 0) -> Walk:
    """A walk over `memory` (a dict address -> PTE; missing addresses read as 0), no hart.

    With `g_mode`, it is a two-stage walk: `mode` is the VS stage, whose table addresses and
    final address are guest-physical and are each translated by a `g_mode` walk. Permission
    bits are not checked (that needs a privilege level): this shows the walk's shape and cost.
    The returned `Walk` has `fault` set instead of raising when the tables give no leaf.
    """
    result = Walk(vaddr)
    refs = result.references
    g_sizes = []                 # page size of each G-stage leaf, the last one is the data's

    def g_translate(gpa, nested=False):
        if g_mode is None:
            return gpa
        start = len(refs)
        try:
            _, level, _, paddr = walk(g_mode, g_root_ppn, gpa, lambda a: memory.get(a, 0), "G",
                                      refs)
        finally:
            if nested:
                mark_nested(refs, start)
        g_sizes.append(page_size(g_mode, level))
        return paddr

    try:
        stage = "VS" if g_mode else "HS"
        pte, level, _, gpa = walk(mode, root_ppn, vaddr,
                                  lambda a: memory.get(g_translate(a, True), 0), stage, refs)
        result.paddr = g_translate(gpa)
        # A combined translation is only as large as the smaller of the two pages.
        result.page_size = min([page_size(mode, level)] + g_sizes[-1:])
        if g_mode is not None:
            result.gpa = gpa
    except WalkFault as fault:
        result.fault = fault
    return result
