"""The cost model: event counters -> estimated CPU cycles, by category.

The simulator's wall-clock speed says nothing about a technique (everything here is Python), so
the VMM counts events instead - instructions executed directly, emulated or translated, exits,
hypercalls, page-walk references, device work - and a `CostModel` prices each event in cycles
of a real machine. Counts are deterministic, so the comparisons and homework answers are too.

A model is a named set of constants (`PRESETS`); every constant has a unit (`UNITS`) and a
source string: a published measurement, "derived: ..." with the arithmetic, or
"assumption: ..." with the reason. Any constant can be overridden:

    model = cost_model("p4-2006", vm_exit=5000)
    model.estimate(counters)                     # {"execute": ..., "exits": ..., ...}
    model.estimate(counters, vm_exits=True)      # exits are VT-x / H-extension VM exits

Translated code (engine `bt`) is priced by what the hart really executes: its own host
instructions (`tc_host_instructions`: the block prologue that charges guest time, the stores
that replaced cli/sti, the return cache, chained jumps), each at `cpi`, in place of the guest
instructions they stand for (`tc_guest_instructions`). A translation therefore costs more than
native code where it runs more instructions (cli/sti: 16 host instructions per loop iteration
against 4 native; call/ret: 21 against 5, near Adams & Agesen's 51 against 11 cycles).

Devices. A device register is reached differently on the two architectures, and that decides
how a VMM catches the access. x86 has a separate I/O address space reached only by the
instructions `in` and `out` (port I/O): they are sensitive instructions the CPU itself can
intercept, by the IOPL in EFLAGS and the I/O permission bitmap of the TSS (VT-x: the I/O
bitmaps of the VMCS), and a binary translator sees them in the instruction stream. RISC-V has
no I/O instructions: a device register is memory-mapped (MMIO), reached by an ordinary load or
store, indistinguishable from a RAM access until its address is translated. To trap it, the VMM
leaves the device's page unmapped (or PMP-protected) in the guest's (shadow or second-stage)
page table, so the access takes a page fault (a guest-page fault under H) that the VMM decodes
and emulates; a translator cannot know in advance which loads reach a device. Natively, the
access itself is slow: it leaves the core for the device over the bus (A&A: 3209 cycles for a
native `in`), which `device_access` prices for every device access the hardware performs.

How an exit is priced depends on who catches it. Under hardware assistance (engine `hw`; VT-x,
AMD-V, the RISC-V H extension) an exit is a VM exit plus VM entry (`vm_exit`). Under a software
VMM (`trap`, `bt`, `pv`) the deprivileged guest traps into the VMM like a system call and is
resumed with a return from trap (`trap_roundtrip`). Each exit pays only its transition in
"exits"; the VMM's work for it is charged in its own category (emulate, hypercalls, memory,
io, interrupts), so an event is never counted twice.

Shadow paging (engines `trap` and `bt`, vmm/shadow.py; its counters come from
`engine.statistics()`, which lab.run adds to the row). A hidden fault is a "page_fault" exit:
a trap round trip ("exits") plus the VMM's walk of the guest's table and shadow fill
(`pt_fill`, "memory"). A true fault reaches the VMM as an "exception" exit (the round trip)
and pays the walk that found it (`pt_fill`) and its reflection into the guest (`inject`), both
under "memory" (`true_faults`). A guest satp write and a guest sfence.vma are
"illegal_instruction" exits (under bt: callouts) plus one emulated instruction, like any
privileged instruction; the shadow work each causes on top is `shadow_switch` and
`shadow_fence` (`shadow_switches`, `shadow_fences`), under "memory". Direct paging (engine
`pv`, vmm/direct.py): each page-table hypercall is a hypercall exit and `hypercall`, and each
PTE the VMM checks on top costs `pte_validate` (`pte_validations`).

Page walks are priced per PTE read (`walk_reference`), as Bhargava et al., "Accelerating
two-dimensional page walks for virtualized systems", ASPLOS 2008, count a walk's cost: a nested
(2D) walk makes up to (n+1)(m+1)-1 reads, 8 for Sv32 over Sv32x4 against 2 native. The MMU
counts them (vmkit/hw/mmu.py: walk_references, and by stage _hs/_vs/_g, _2d the G-stage reads
for the guest's own table addresses), so nested paging's cost shows under `memory`.

Presets:
* "p4-2006": Adams & Agesen, "A Comparison of Software and Hardware Techniques for x86
  Virtualization", ASPLOS 2006, nanobenchmarks on a Pentium 4 (first-generation VT-x, no
  nested paging).
* "modern": later VM-exit costs: ~2,000 cycles on Nehalem with KVM (SplitX), ~1,350 cycles
  around AMD's vmrun and ~2,528 for a whole KVM ioctl round trip (LKML 2020).
No per-exit cycle counts for RISC-V H implementations were found published, hence x86.
"""

import dataclasses
import math

AA = "Adams & Agesen, ASPLOS 2006 (P4)"

# What each constant prices, and in which unit; every preset defines all of them.
UNITS = {
    "cpi": "cycles / instruction the hart executes",
    "emulate": "cycles / emulated instruction",
    "translate": "cycles / translated instruction",
    "tc_lookup": "cycles / TC hit",
    "bt_callout": "cycles / callout",
    "tc_invalidation": "cycles / invalidation",
    "trap_roundtrip": "cycles / software-VMM exit",
    "vm_exit": "cycles / hardware VM exit",
    "hypercall": "cycles / hypercall",
    "inject": "cycles / injected interrupt",
    "walk_reference": "cycles / page-walk reference",
    "pt_fill": "cycles / shadow fill (a hidden or true page fault)",
    "shadow_switch": "cycles / guest satp write (shadow switch)",
    "shadow_fence": "cycles / guest sfence.vma applied to shadows",
    "pte_validate": "cycles / PTE the VMM validates",
    "device_model": "cycles / device exit",
    "device_access": "cycles / device access by the hardware",
    "dma_byte": "cycles / DMA byte",
}

_P4_2006 = {
    "cpi": (1, "assumption: a simple instruction retires in about one cycle; " + AA +
            " report virtualized costs against native, so native speed is the unit"),
    "emulate": (40, "assumption: a decode-and-dispatch interpreter in C spends tens of host "
                "instructions per guest instruction (fetch, decode, dispatch, register file "
                "in memory); no published figure found. vmkit's own Python interpreter is ~1000x "
                "slower than QEMU (measured here on one loop), a cost of Python, not of the "
                "technique"),
    "translate": (200, "assumption: translating decodes, analyses and emits each instruction "
                  "once, about 5x the work of interpreting it (5 x emulate); no published "
                  "figure found"),
    "tc_lookup": (40, "derived: " + AA + ": call/ret costs 51 cycles under BT and 11 native; "
                  "51 - 11 = 40 for finding a return target in the translation cache; priced "
                  "per lookup the VMM makes on its own (after an exit); a callout's price "
                  "includes its lookup, and returns found in the inline return cache are "
                  "priced by their host instructions"),
    "bt_callout": (214, "derived: " + AA + ": `in` runs ~15x faster under BT than its native "
                   "3209 cycles, because translated code calls out to the VMM's device "
                   "emulation without a trap: 3209 / 15 = 214 per callout, handling included"),
    "tc_invalidation": (391, "assumption: priced like a store to a page the VMM traces, "
                        "which " + AA + " measure as ptemod under BT: 391 cycles; a write to "
                        "translated guest code is the same kind of event (re-translation is "
                        "charged per instruction by `translate`)"),
    "trap_roundtrip": (2000, "derived: " + AA + ": a guest syscall costs native + ~2000 under "
                       "BT, where the VMM catches and reflects it; divzero agrees: "
                       "3223 - 889 = 2334"),
    "vm_exit": (12342, "derived: " + AA + ": ptemod costs 12733 under VT, where the PTE write "
                "exits, against 391 under BT, where the same emulation runs without a "
                "transition: 12733 - 391 = 12342 for the VM exit, VM entry and the VMM's exit "
                "path. Cross-checks: `in` 15826 - 214 = 15612 (longer I/O path, see "
                "device_model); pgfault 11242 - 1093 = 10149. A VT syscall does not exit "
                "(costs ~native)"),
    "hypercall": (214, "assumption: the VMM's work for a hypercall is a short service routine "
                  "like the BT callout that emulates `in` (214 cycles, " + AA + "); the trap "
                  "itself is priced by trap_roundtrip (Xen, SOSP 2003: hypercalls are "
                  "synchronous traps like syscalls)"),
    "inject": (334, "derived: " + AA + ": divzero costs 3223 under BT, 889 native: the VMM "
               "reflects the exception into the guest for 3223 - 889 = 2334, of which ~2000 "
               "is the trap round trip (syscall figure): 2334 - 2000 = 334 to build the "
               "guest's trap frame"),
    "walk_reference": (30, "assumption: one PTE read that hits the L1/L2 caches (tens of "
                       "cycles; a DRAM access is several times more); no per-reference latency "
                       "was checked in the literature. What is priced is the count, as "
                       "Bhargava et al., ASPLOS 2008 (Accelerating two-dimensional page walks "
                       "for virtualized systems) measure a TLB miss: in architecturally "
                       "required page-entry references, (n+1)(m+1)-1 for a 2D walk (24 for "
                       "4x4 levels; Sv32 over Sv32x4: 8, against 2 native), which the MMU "
                       "counts here (walk_references, split by stage). They find the nested "
                       "references have less locality (more cache misses: dearer than this "
                       "price) and that page-walk caches, which this TLB model lacks, win back "
                       "15-38% of guest performance (cheaper): these counts are an upper "
                       "bound"),
    "pt_fill": (500, "derived: " + AA + ": pgfault (a fault the guest handles: a true fault) "
                "costs 3927 under BT, 1093 native: 3927 - 1093 = 2834 over native, minus the "
                "2334 of reflecting an exception (divzero: trap_roundtrip + inject) = 500 for "
                "the VMM's walk of the guest's table and its shadow work; a hidden fault pays "
                "it too, without the reflection"),
    "shadow_switch": (40, "assumption: the VMM's work for a guest satp write (x86 `mov cr3`, "
                      "the lecture's HANDLE_CR3) beyond trapping and decoding it (priced as "
                      "an exit and an emulated instruction): it looks up the cached shadow of "
                      "the new address space and loads its root, a hash-table lookup like the "
                      "TC's return-target lookup (tc_lookup, 40, from " + AA + "'s call/ret); "
                      "a shadow built anew is paid fault by fault (pt_fill) and the TLB refill "
                      "walk by walk (walk_reference); no published figure found"),
    "shadow_fence": (391, "assumption: the VMM's work for a guest sfence.vma beyond trapping "
                     "and decoding it: it drops the shadow entries the fence names, the work "
                     "VMware's VMM does to keep a shadow coherent with one traced guest PTE "
                     "write, which " + AA + " measure as ptemod under BT (no transition): 391 "
                     "cycles; vmkit invalidates at the fence instead of at the write "
                     "(vmm/shadow.py), so the same work is priced per fence"),
    "pte_validate": (40, "assumption: checking one guest PTE for direct paging (pv: a page of "
                     "its own RAM, not a page table if writable, the table kinds) is a few "
                     "loads, compares and a count update, like a TC lookup (tc_lookup, 40); "
                     "Barham et al., Xen, SOSP 2003, describe the validation (3.3.2) but "
                     "measure only whole benchmarks (5); the hypercall is priced apart"),
    "device_model": (3484, "derived: " + AA + ": `in` costs 15826 under VT; minus the VM exit "
                     "(12342, see vm_exit) = 3484 for reaching the device model and back"),
    "device_access": (3208, "derived: " + AA + ": a native `in` costs 3209 cycles, the "
                      "instruction itself included (cpi): 3209 - 1 = 3208 for the trip to the "
                      "device register and back"),
    "dma_byte": (1, "assumption: an emulated or paravirtual device copies data once through "
                 "the CPU, about one byte per cycle; no published figure found"),
}

_KEPT = "assumption: the p4-2006 value kept, no later published figure found; its source: "

# Only the VM-exit path has later measurements; the rest of the machine is priced as in 2006.
_MODERN_EXITS = {
    "vm_exit": (2000, "SplitX (Landau et al., 2011): ~2,000 cycles direct exit cost on Nehalem with "
                "KVM; AMD SVM ~1,350 around vmrun (LKML 2020) is of the same order"),
    "device_model": (1178, "derived: LKML 2020 (AMD SVM, KVM): a whole KVM ioctl round trip "
                     "to the user-space VMM is ~2,528 cycles, of which ~1,350 around vmrun: "
                     "2528 - 1350 = 1178 for leaving to the device model and back"),
}
_MODERN = {name: _MODERN_EXITS.get(name, (value, _KEPT + source))
           for name, (value, source) in _P4_2006.items()}


class CostError(ValueError):
    """A bad preset name, constant or counter given to the cost model."""


def _check_constant(name, value):
    if name not in UNITS:
        raise CostError(f"unknown cost constant {name!r}; valid: {', '.join(UNITS)}")
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not (value >= 0 and math.isfinite(value))):
        raise CostError(f"cost constant {name!r} must be a finite number >= 0, not {value!r}")


@dataclasses.dataclass(frozen=True)
class CostModel:
    """A named set of cycle costs, one per event kind (see `UNITS`), each with its source."""

    name: str
    constants: dict
    sources: dict

    def __post_init__(self):
        for name in UNITS:
            if name not in self.constants or not self.sources.get(name):
                raise CostError(f"cost model {self.name!r}: constant {name!r} needs a value "
                                "and a source")
        for name, value in self.constants.items():
            _check_constant(name, value)

    def estimate(self, counters, vm_exits=False):
        """Counters (dict; missing keys are 0) -> {category: estimated cycles}.

        `vm_exits`: the guest runs under hardware assistance (engine `hw`), so every exit is
        a VM exit + entry; otherwise every exit is a trap into a software VMM and back."""
        c = self.constants
        n = _Counts(counters)
        exits = n.exits()
        transition = c["vm_exit"] if vm_exits else c["trap_roundtrip"]
        page_faults = exits.get("page_fault", 0) + exits.get("guest_page_fault", 0)
        cycles = {
            "execute": n.executed() * c["cpi"],
            "emulate": n["emulated_instructions"] * c["emulate"],
            "translate": (n["translated_instructions"] * c["translate"]
                          + n["tc_hits"] * c["tc_lookup"]
                          + n["tc_callouts"] * c["bt_callout"]
                          + n["tc_invalidations"] * c["tc_invalidation"]),
            "exits": sum(exits.values()) * transition,
            "hypercalls": n["hypercalls"] * c["hypercall"],
            "interrupts": n["interrupts_injected"] * c["inject"],
            "memory": (n["walk_references"] * c["walk_reference"]
                       + (page_faults + n["true_faults"]) * c["pt_fill"]
                       + n["true_faults"] * c["inject"]
                       + n["shadow_switches"] * c["shadow_switch"]
                       + n["shadow_fences"] * c["shadow_fence"]
                       + n["pte_validations"] * c["pte_validate"]),
            "io": (n["device_exits"] * c["device_model"] + n["dma_bytes"] * c["dma_byte"]
                   + n["direct_device_accesses"] * c["device_access"]),
        }
        return {category: round(value) for category, value in cycles.items()}

    def total(self, counters, vm_exits=False):
        """Estimated cycles of a whole run (the sum of `estimate`)."""
        return sum(self.estimate(counters, vm_exits).values())

    def table(self):
        """The constants as rows (dicts) for a notebook table or a Bokeh ColumnDataSource."""
        return [{"preset": self.name, "constant": name, "value": self.constants[name],
                 "unit": UNITS[name], "source": self.sources[name]} for name in UNITS]

    def describe(self):
        """The constants as a plain-text table: name, value, unit, source."""
        lines = [f"cost model {self.name!r}",
                 f"{'constant':<16} {'value':>8}  {'unit':<32} source"]
        for row in self.table():
            lines.append(f"{row['constant']:<16} {row['value']:>8}  {row['unit']:<32} "
                         f"{row['source']}")
        return "\n".join(lines)


def _preset(name, table):
    return CostModel(name, {k: v[0] for k, v in table.items()},
                     {k: v[1] for k, v in table.items()})


PRESETS = {"p4-2006": _preset("p4-2006", _P4_2006), "modern": _preset("modern", _MODERN)}


def cost_model(name="modern", **overrides):
    """The preset `name` with some constants replaced, e.g. cost_model("p4-2006", vm_exit=5000)."""
    if name not in PRESETS:
        raise CostError(f"unknown cost model {name!r}; choose one of {', '.join(PRESETS)}")
    base = PRESETS[name]
    constants, sources = dict(base.constants), dict(base.sources)
    for key, value in overrides.items():
        _check_constant(key, value)
        constants[key] = value
        sources[key] = f"override (preset {name!r} has {base.constants[key]})"
    return CostModel(name if not overrides else name + "+overrides", constants, sources)


class _Counts:
    """Read access to a counters dict: missing keys are 0, bad values raise CostError."""

    def __init__(self, counters):
        if not isinstance(counters, dict):
            raise CostError(f"counters must be a dict, not {type(counters).__name__}")
        self.counters = counters

    def __getitem__(self, key):
        return _count(key, self.counters.get(key, 0))

    def executed(self):
        """Instructions the hart executed for the guest: its direct instructions, except
        that those run as translations count as the host instructions they became."""
        translated = self["tc_guest_instructions"]
        if translated > self["direct_instructions"]:
            raise CostError("counter tc_guest_instructions must not exceed "
                            "direct_instructions (translated guest code runs directly)")
        return self["direct_instructions"] - translated + self["tc_host_instructions"]

    def exits(self):
        exits = self.counters.get("exits", {})
        if not isinstance(exits, dict):
            raise CostError(f"counter 'exits' must be a dict reason -> count, not {exits!r}")
        return {reason: _count(f"exits[{reason!r}]", n) for reason, n in exits.items()}


def _count(key, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CostError(f"counter {key} must be an int >= 0, not {value!r}")
    return value


# What a table or plot shows for a run with `paging_refused`, in place of its cycles.
REFUSED = "refuses guest paging"


@dataclasses.dataclass
class RunResult:
    """What one run of a workload under one engine produced; plain data, JSON-ready.

    `counters` is the VMM's counter dict, `cycles` its `CostModel.estimate`, `wall_s` the
    simulator's wall-clock time (not comparable across techniques), `exit_code` the guest's
    exit status (None if it did not finish) and `exit_reason` why the run stopped.
    `paging_refused`: the guest pages and the engine refuses guest paging (lab.paging_refused):
    the run is not priced (`cycles` empty, `total_cycles` None), since a run that stopped at
    the start is not a cheap one; tables and plots say "refuses guest paging" (REFUSED)."""

    engine: str
    workload: str
    counters: dict
    cycles: dict
    total_cycles: int | None
    wall_s: float
    console: str
    exit_code: int | None
    exit_reason: str
    paging_refused: bool = False

    def to_dict(self):
        """A deep copy made of dicts, strings and numbers only (json.dumps accepts it), with
        the exits by reason also at the top level, as `vmkit compare --json` documents."""
        row = dataclasses.asdict(self)
        row["exits"] = dict(self.counters.get("exits", {}))
        return row

    @classmethod
    def from_dict(cls, row):
        """The inverse of `to_dict` (the top-level exits copy is dropped)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in row.items() if key in fields})
