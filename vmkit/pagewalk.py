"""One guest memory access, watched: every memory reference its address translation makes.

The lecture's *kétszeres címfordítás* (address translation twice): a guest-virtual address
becomes guest-physical through the guest's own page table (RISC-V vsatp, the VS-stage; x86 the
guest's CR3), and guest-physical becomes host-physical through the VMM's (hgatp, the G-stage;
x86 EPT / AMD RVI). Three ways to do it, on the same load of the same guest (vmkit/guest/
touch.s: one fresh page, a cold TLB):

* native (`native`): one Sv32 walk, 2 PTE reads (x86: CR3 paging).
* shadow paging (`trap`; *árnyék laptábla*): the hardware walks the VMM's shadow table, which
  has no entry yet: a page fault to the VMM, which walks the guest's table in software, fills
  the shadow (a *hidden* fault: the guest never sees it) and resumes; the load runs again and
  the hardware walks the shadow, now filled (vmkit/vmm/shadow.py).
* nested paging (`hw`; *beágyazott laptáblák*): the hardware walks both tables, and every
  guest PTE address is itself G-stage translated: (n+1)(m+1)-1 reads, 8 with 4 KiB G-stage
  pages, 5 with 4 MiB ones (Bhargava et al., ASPLOS 2008).

    from vmkit import pagewalk
    access = pagewalk.observe("hw", gstage_page=4096)
    print(access)           # each reference in order, the counts, the TLB entry it left

Every step comes from the run: the MMU's `walk_log` and the shadow tables' `walk_log`
(vmkit/hw/mmu.py, vmkit/vmm/shadow.py) record the walks as they happen.
"""

from typing import NamedTuple

from . import guest
from .hw.mmu import COUNTERS
from .hw.paging import Ref, describe_pte
from .vmm.engines import engine_class
from .vmm.vm import VirtualMachine

# What the widget and the notebook offer: a label -> VirtualMachine options.
TECHNIQUES = {
    "native": dict(engine="native"),
    "shadow paging (trap)": dict(engine="trap"),
    "nested paging, 4 KiB G-stage pages (hw)": dict(engine="hw", gstage_page=4096),
    "nested paging, 4 MiB G-stage pages (hw)": dict(engine="hw", gstage_page=4 << 20),
}
# The shadow tables' counters (vmkit/vmm/shadow.py) that one access can change.
SHADOW_COUNTERS = ("hidden_faults", "true_faults")


class Step(NamedTuple):
    """One thing that happened during the access, in order.

    A memory reference has `ref` (a PTE read, vmkit/hw/paging.py Ref) and its `number`
    (1, 2, ... over the whole access); an event (a fault, the shadow fill, the TLB entry)
    has ref None and number 0. `who` made it: "hardware" (the MMU's walker) or "VMM".
    """
    number: int
    who: str
    ref: Ref | None
    text: str


class Access:
    """The record of one observed access: `observe`'s result."""

    def __init__(self, engine, gstage_page, vaddr, walks, counters, entry, value):
        self.engine, self.gstage_page, self.vaddr = engine, gstage_page, vaddr
        self.walks = walks          # Walk records, in order: the MMU's and the VMM's fills
        self.counters = counters    # the change of COUNTERS (and SHADOW_COUNTERS) across it
        self.entry = entry          # the TLB entry for vaddr afterwards (vmkit/hw/tlb.py)
        self.value = value          # the word the load read
        self.shadowed = engine_class(engine).paging_mode == "shadow"   # the hart walks shadows
        self.steps = _steps(self.shadowed, walks)

    @property
    def references(self):
        """The steps that are memory references (PTE reads), in order."""
        return [step for step in self.steps if step.ref is not None]

    def count(self, who):
        """How many PTE reads `who` ("hardware" or "VMM") made."""
        return sum(step.who == who for step in self.references)

    def __str__(self):
        page = f", {_size(self.gstage_page)} G-stage pages" if self.gstage_page else ""
        lines = [f"{self.engine}{page}: load from {self.vaddr:#010x}"]
        for step in self.steps:
            mark = f"{step.number:>3}" if step.number else "   "
            lines.append(f"{mark} {step.who:<8} {step.text}")
        lines.append(f"memory references: {self.count('hardware')} by the hardware walker"
                     + (f", {self.count('VMM')} by the VMM in software" if self.count("VMM")
                        else ""))
        return "\n".join(lines)


def _guest_pc(engine):
    """The guest's pc; under bt the hart may be in the translation cache, at a translation."""
    at = engine.translation_at(engine.cpu.pc)
    return engine.cpu.pc if at is None else at[1]


def observe(engine="hw", gstage_page=None, tlb_tagged=True, fast=True) -> Access:
    """Run the `touch` guest to its load, then run the load alone with the walk logs on.

    Raises ValueError when the engine cannot run a guest that pages (Engine.paging_mode None)."""
    program = guest.build(guest.TOUCH)
    vm = VirtualMachine(program, engine=engine, gstage_page=gstage_page,
                        tlb_tagged=tlb_tagged, fast=fast)
    touch, vaddr = program.symbols["touch"], program.symbols["VA"]
    stop = vm.run((touch - program.symbols["_start"]) // 4)     # .option norvc: 4 bytes each
    if stop.reason != "budget" or _guest_pc(vm.engine) != touch:
        raise ValueError(f"engine {engine!r} did not reach the load: {stop.message or stop.reason}")
    mmu, shadows = vm.engine.cpu.mmu, getattr(vm.engine, "shadows", None)
    log = []
    before = _counts(vm)
    mmu.walk_log = log
    if shadows is not None:
        shadows.walk_log = log              # one list: the hardware's and the VMM's in order
    try:
        stop = vm.run(1)
    finally:
        mmu.walk_log = None
        if shadows is not None:
            shadows.walk_log = None
    if stop.reason != "budget":
        raise ValueError(f"engine {engine!r}: the load did not complete: "
                         f"{stop.message or stop.reason}")
    after = _counts(vm)
    last = next((walk.entry for walk in reversed(log) if walk.entry is not None), None)
    entry = last and mmu.tlb.probe(vaddr >> 12, last.asid, last.vmid, last.virt)
    return Access(engine, gstage_page, vaddr, log,
                  {key: after[key] - before[key] for key in after}, entry,
                  vm.engine.registers[10])


def _counts(vm):
    counters = vm.counters.as_dict()
    shadow = vm.engine.statistics()
    return {key: counters[key] for key in COUNTERS} | {
        key: shadow[key] for key in SHADOW_COUNTERS if key in shadow}


def _steps(shadowed, walks):
    """The walks as Steps, each explained in words."""
    steps, number = [], 0
    for walk in walks:
        by_vmm = any(ref.stage == "guest" for ref in walk.references)
        for ref in walk.references:
            number += 1
            steps.append(Step(number, "VMM" if by_vmm else "hardware", ref,
                              _reference_text(shadowed, ref)))
        steps += [Step(0, "VMM" if by_vmm else "hardware", None, text)
                  for text in _outcome(shadowed, walk, by_vmm)]
    return steps


def _reference_text(shadowed, ref):
    where = f"level {ref.level} PTE at {ref.address:#010x} = {ref.pte:#010x} " \
            f"{describe_pte(ref.pte)}"
    if ref.stage == "guest":
        return f"reads the guest's table (software walk), {where} (guest-physical)"
    if ref.stage == "VS":
        return f"VS-stage (vsatp, the guest's table), {where} (guest-physical)"
    if ref.stage == "G":
        purpose = "the next VS PTE's address" if ref.nested else "the data's address"
        return f"G-stage (hgatp) for {purpose}, {where}"
    table = "the VMM's shadow table" if shadowed else "satp's table"
    return f"HS-stage ({table}), {where}"


def _size(page):
    return f"{page >> 20} MiB" if page >= 1 << 20 else f"{page >> 10} KiB"


def _outcome(shadowed, walk, by_vmm):
    """What a walk ended in, as event lines."""
    if by_vmm:
        if walk.fault is not None:
            return [f"true fault: the guest's table has no mapping ({walk.fault}); "
                    "the VMM reflects a page fault to the guest"]
        if walk.paddr is None:
            return [f"the guest maps {walk.vaddr:#010x} to guest-physical {walk.gpa:#x}, "
                    "not RAM: an emulated device access (MMIO)"]
        if walk.why == "translation":
            return [f"the translator reads the guest's code at {walk.vaddr & ~0xFFF:#010x} "
                    "through the guest's table (binary translation) and maps it in the shadow: "
                    f"host frame {walk.paddr & ~0xFFF:#x}"]
        return [f"hidden fault: the VMM fills the shadow: {walk.vaddr & ~0xFFF:#010x} -> host "
                f"frame {walk.paddr & ~0xFFF:#x}, and resumes the guest at the same load"]
    if walk.fault is not None:
        if shadowed:
            return ["page fault: the shadow has no entry yet; the trap goes to the VMM "
                    "(the guest kernel runs deprivileged, every trap reaches the VMM first)"]
        return [f"page fault: {walk.fault}"]
    entry = walk.entry
    size = _size(entry.mask + 1)
    tags = f"ASID {entry.asid}" + (f", VMID {entry.vmid}" if entry.virt else "")
    guest_physical = f" (guest-physical {walk.gpa:#x})" if walk.gpa is not None else ""
    return [f"TLB entry: {walk.vaddr & ~entry.mask:#010x} -> {entry.pa_base:#x}, {size} page, "
            f"{tags}; the load reads {walk.paddr:#x}{guest_physical}"]
