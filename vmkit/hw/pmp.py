"""Physical memory protection (PMP): M-mode firmware fences off physical memory.

Sixteen entries, each a config byte (pmpcfg: R W X, the address-matching mode A, lock L) and an
address register (pmpaddr: physical address bits 33:2). A = OFF (disabled), TOR (top of range:
pmpaddr[i-1] <= a < pmpaddr[i]), NA4 (4 bytes) or NAPOT (naturally aligned power of two, size
encoded by the trailing ones). The lowest-numbered matching entry decides; an access that only
partly matches it fails. S and U accesses that match nothing fail (QEMU implements all 16
entries); M-mode accesses succeed unless they hit a locked entry, and L also freezes the entry
(and, for TOR, the address register below it) until reset.

x86 has no direct counterpart; the nearest are the MTRR/range registers that firmware sets and
SMRR, which hide SMM memory from the OS.

Behaviour follows QEMU 7.2 (target/riscv/pmp.c) where the spec allows a choice: granularity
G=0 (4 bytes, pmpaddr reads back as written), config bytes stored as written unless locked.

Source: RISC-V privileged spec 20211203, section 3.7.
"""

from typing import NamedTuple

ENTRIES = 16
R, W, X = 1, 2, 4
A_SHIFT = 3
OFF, TOR, NA4, NAPOT = 0, 1, 2, 3
L = 0x80


class Rule(NamedTuple):
    """One active entry, decoded: bytes [lo, hi) with `perms` indexed by access type."""
    index: int
    lo: int
    hi: int
    perms: int                   # bit 0 fetch (X), bit 1 load (R), bit 2 store (W)
    locked: bool


def entry_range(index: int, pmpcfg, pmpaddr):
    """(lo, hi) byte range of entry `index`, hi exclusive; None when it is OFF."""
    mode = (pmpcfg[index] >> A_SHIFT) & 3
    address = pmpaddr[index]
    if mode == TOR:
        return (pmpaddr[index - 1] << 2 if index else 0), address << 2
    if mode == NA4:
        return address << 2, (address << 2) + 4
    if mode == NAPOT:
        ones = (address ^ (address + 1)).bit_length() - 1    # trailing one bits
        base = (address & ~((1 << ones) - 1)) << 2
        return base, base + (1 << (ones + 3))
    return None


def pmp_rules(pmpcfg, pmpaddr) -> tuple:
    """The active entries as `Rule`s, in priority order (lowest index first)."""
    rules = []
    for index in range(ENTRIES):
        span = entry_range(index, pmpcfg, pmpaddr)
        if span is None:
            continue
        cfg = pmpcfg[index]
        perms = (cfg & X) >> 2 | (cfg & R) << 1 | (cfg & W) << 1
        rules.append(Rule(index, span[0], span[1], perms, bool(cfg & L)))
    return tuple(rules)


def pmp_allows(rules, paddr: int, size: int, access: int, priv: int) -> bool:
    """Whether an access of `size` bytes at `paddr` passes PMP (access: 0 fetch, 1 load, 2 store).

    Also right for a whole page (size 4096): an entry lying strictly inside the range matches
    some bytes but not all, so the range as a whole fails.
    """
    last = paddr + size - 1
    for rule in rules:
        if rule.lo <= last and paddr < rule.hi:              # matches at least one byte
            if paddr < rule.lo or rule.hi <= last:
                return False                                 # ...but not all of them
            if priv == 3 and not rule.locked:
                return True
            return bool(rule.perms >> access & 1)
    return priv == 3


def pmp_check(hart, paddr: int, size: int, access: int, priv: int) -> bool:
    """pmp_allows for the hart's current pmpcfg/pmpaddr registers (priv: 0 U, 1 S, 3 M)."""
    return pmp_allows(pmp_rules(hart.pmpcfg, hart.pmpaddr), paddr, size, access, priv)


def pmp_write_cfg(hart, index: int, value: int) -> bool:
    """Write config byte `index`; ignored when the entry is locked. True if it changed."""
    if hart.pmpcfg[index] & L:
        return False
    old, hart.pmpcfg[index] = hart.pmpcfg[index], value & 0xFF
    return old != hart.pmpcfg[index]


def pmp_write_addr(hart, index: int, value: int) -> bool:
    """Write pmpaddr `index`; ignored when locked, or when entry index+1 is a locked TOR entry
    (its range starts here). True if it changed."""
    above = hart.pmpcfg[index + 1] if index + 1 < ENTRIES else 0
    if hart.pmpcfg[index] & L or (above & L and (above >> A_SHIFT) & 3 == TOR):
        return False
    old, hart.pmpaddr[index] = hart.pmpaddr[index], value & 0xFFFFFFFF
    return old != hart.pmpaddr[index]
