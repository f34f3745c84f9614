"""The hart's context: all of its architectural state as plain data, saved and loaded whole.

A world switch (a hypervisor running another VM on the same hart) and a snapshot both need the
CPU state as a value: x86 VT-x keeps it in the VMCS guest-state area, which the CPU saves on a
VM exit and loads on VM entry; KVM hands it to user space as KVM_GET_REGS / KVM_GET_SREGS /
KVM_GET_MSRS. Here it is a dict of ints, lists and strings, so it survives `json.dumps`:

    context = save_context(hart)       # {"version": 1, "x": [...], "pc": ..., "csrs": {...}}
    ...                                # run something else on the hart
    load_context(hart, context)        # the hart continues exactly where it was

What is saved: x, pc, priv, virt; the storage of every CSR (`hart.CSR_STATE`: M, S, H and VS
CSRs, mip's software-writable bits and hvip; every other CSR is a view of these), PMP, the
counters (instret, the trap count, the cycle/instret offsets), the LR reservation; and the
settings a VMM gives the hart per guest: the traps it intercepts (x86: the VMCS exit
controls), breakpoints, Popek-Goldberg quirks, `fast`.

What is not: caches. The TLB is tagged with ASID and VMID, so another context's entries are
never hit and need no flush (that is the point of the tags); the decoded-code and compiled-block
caches are keyed by host-physical page, which belongs to one guest. The page caches in front of
the TLB are dropped on load (`translation_changed`), as a real TLB keeps nothing else. Nor the
devices (CLINT, PLIC, UART): they are the platform's, not the hart's. Whoever rewrites RAM under
the hart (a snapshot restore) must drop code decoded from it (`hart.invalidate_code`).

Loading checks the whole context first and changes nothing when any part is wrong: a context
read from a file is input, and gets one clear error.
"""

from .hart import CSR_STATE, M, S, U
from .pmp import ENTRIES, pmp_rules
from .system import QUIRKS

VERSION = 1
U32 = 1 << 32
TRAP_TARGETS = ("M", "HS", "VS")
COUNTERS = ("cycle", "instret")
_KEYS = {"version", "x", "pc", "priv", "virt", "csrs", "pmpcfg", "pmpaddr", "instret", "traps",
         "counter_offset", "reservation", "intercept", "breakpoints", "quirks", "fast"}


def save_context(hart) -> dict:
    """The hart's architectural state as JSON-ready data (see the module docstring)."""
    return {
        "version": VERSION,
        "x": list(hart.x), "pc": hart.pc, "priv": hart.priv, "virt": bool(hart.virt),
        "csrs": {name: getattr(hart, name) for name in CSR_STATE},
        "pmpcfg": list(hart.pmpcfg), "pmpaddr": list(hart.pmpaddr),
        "instret": hart.instret, "traps": hart.traps,
        "counter_offset": {name: hart.counter_offset[name] for name in COUNTERS},
        "reservation": None if hart.reservation is None else list(hart.reservation),
        "intercept": sorted(hart.intercept), "breakpoints": sorted(hart.breakpoints),
        "quirks": sorted(hart.quirks), "fast": bool(hart.fast),
    }


def load_context(hart, context) -> None:
    """Make the hart's state `context` (from `save_context`); ValueError, and nothing
    changed, when it is not a valid context."""
    _check(context)
    c = context
    # In place: compiled blocks and closures hold these very lists (blocks.py binds hart.x).
    hart.x[:] = c["x"]
    hart.pmpcfg[:] = c["pmpcfg"]
    hart.pmpaddr[:] = c["pmpaddr"]
    hart.counter_offset.update(c["counter_offset"])
    hart.pc, hart.priv, hart.virt = c["pc"], c["priv"], c["virt"]
    for name in CSR_STATE:
        setattr(hart, name, c["csrs"][name])
    hart.instret, hart.traps = c["instret"], c["traps"]
    hart.reservation = None if c["reservation"] is None else tuple(c["reservation"])
    hart.intercept = set(c["intercept"])
    hart.breakpoints = set(c["breakpoints"])
    hart.quirks = frozenset(c["quirks"])
    hart.fast = c["fast"]
    hart.exit = hart.block_fault = None
    hart.pmp_rules = pmp_rules(hart.pmpcfg, hart.pmpaddr)
    hart.mmu.pmp_changed()
    hart.translation_changed()


# -- validation -------------------------------------------------------------------------------
def check_context(context) -> None:
    """ValueError when `context` is not a valid context (what load_context checks first)."""
    _check(context)


def _check(c):
    if not isinstance(c, dict):
        _bad(f"a context is a dict, not {type(c).__name__}")
    if c.get("version") != VERSION:
        _bad(f"version {c.get('version')!r} is not {VERSION}")
    if set(c) != _KEYS:
        _bad(f"keys differ: missing {sorted(_KEYS - set(c))}, unknown {sorted(set(c) - _KEYS)}")
    _ints(c["x"], "x", 32, U32)
    if c["x"][0] != 0:
        _bad("x0 must be 0")
    _int(c["pc"], "pc", U32)
    if c["pc"] & 3:
        _bad(f"pc {c['pc']:#x} is not 4-byte aligned (IALIGN=32)")
    if c["priv"] not in (M, S, U) or isinstance(c["priv"], bool):
        _bad(f"priv must be 0, 1 or 3, not {c['priv']!r}")
    if not isinstance(c["virt"], bool) or (c["virt"] and c["priv"] == M):
        _bad(f"virt must be a bool, and False in M-mode, not {c['virt']!r}")
    csrs = c["csrs"]
    if not isinstance(csrs, dict) or set(csrs) != set(CSR_STATE):
        _bad("csrs must name exactly the hart's CSRs (hart.CSR_STATE)")
    for name in CSR_STATE:
        _int(csrs[name], f"csrs.{name}", U32)
    _ints(c["pmpcfg"], "pmpcfg", ENTRIES, 1 << 8)
    _ints(c["pmpaddr"], "pmpaddr", ENTRIES, U32)
    _int(c["instret"], "instret", 1 << 64)
    _int(c["traps"], "traps", 1 << 64)
    offsets = c["counter_offset"]
    if not isinstance(offsets, dict) or set(offsets) != set(COUNTERS):
        _bad(f"counter_offset must have exactly {COUNTERS}")
    for name in COUNTERS:       # may be negative: minstret written below instret
        _int(offsets[name], f"counter_offset.{name}", 1 << 65, low=-(1 << 65))
    if c["reservation"] is not None:
        _ints(c["reservation"], "reservation", 2, 1 << 34)
    _names(c["intercept"], "intercept", TRAP_TARGETS)
    _names(c["quirks"], "quirks", QUIRKS)
    if not isinstance(c["breakpoints"], list):
        _bad("breakpoints must be a list")
    for pc in c["breakpoints"]:
        _int(pc, "breakpoint", U32)
    if not isinstance(c["fast"], bool):
        _bad(f"fast must be a bool, not {c['fast']!r}")


def _int(value, what, limit, low=0):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value < limit:
        _bad(f"{what} must be an integer in [{low:#x}, {limit:#x}), not {value!r}")


def _ints(values, what, count, limit):
    if not isinstance(values, list) or len(values) != count:
        _bad(f"{what} must be a list of {count} integers")
    for index, value in enumerate(values):
        _int(value, f"{what}[{index}]", limit)


def _names(values, what, allowed):
    if not isinstance(values, list) or not all(isinstance(v, str) and v in allowed
                                                for v in values):
        _bad(f"{what} must be a list of names from {sorted(allowed)}, not {values!r}")


def _bad(message):
    raise ValueError(f"hart context: {message}")
