"""Experiments: run one workload under the CPU-virtualization techniques, get tidy rows.

    from vmkit import lab
    results = lab.compare("syscall", iterations=100)     # one RunResult per engine
    [r.to_dict() for r in results]                       # rows for a table or a Bokeh plot

Every number in a row is counted or derived from counts (the cost model), except `wall_s`,
which is how long the simulation took on this machine and says nothing about the technique.

What the notebooks print to explain those numbers, all derived from the code or from a run:

    lab.EXIT_REASONS                  # every exit reason: when it happens, its x86 name
    lab.syscall_timeline("trap")      # one system call, step by step: guest, hart, VMM
    lab.paravirtual_macros()          # priv.inc's privileged macros, native and PV build

I/O virtualization: `lab.run("disk", engine, io="emulated" | "virtio")` gives the disk workload
(vmkit/guest/disk.s) the disk of that technique; `lab.compare_io()` runs it under each technique
and engine and derives the per-request figures (`io_figures`).
"""

import time
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from . import guest
from .disasm import disassemble_word
from .guest.hostile import HOSTILE_KINDS, hostile
from .hw.trap import ECALL_FROM_U, INTERRUPT_BIT, cause_name
from .vmm.costs import RunResult, cost_model
from .vmm.engines import ENGINES, engine_class
from .vmm.exits import NOT_EXITS, ExitReason
from .vmm.vm import VirtualMachine

# The engines a comparison runs by default: every registered one, in the lecture's order.
DEFAULT_ENGINES = tuple(ENGINES)


def load_program(workload, iterations=None, pv=False, io=None, batch=None):
    """A workload name from vmkit.guest (tinyos, syscall, ...) or a path to a .s/.elf file.
    `pv`: the paravirtual build of a named workload (the `pv` engine runs that one). The
    hostile guests (vmkit/guest/hostile.py: halt, spin, ...) are named workloads too; they
    have no loop count and need no PV build (their privileged instructions trap under pv).
    An I/O workload (guest.IO_WORKLOADS) is built with the driver of technique `io` and
    prints through the SBI console, so that its exits are the disk's (`batch`: see
    guest.build)."""
    if workload in guest.IO_WORKLOADS:
        driver = "emulated" if io == "emulated" else "virtio"      # passthrough: virtio too
        return guest.build(workload, iterations=iterations, pv=pv, disk=driver,
                           batch=batch, console_sbi=True)
    if workload in guest.WORKLOADS:
        return guest.build(workload, iterations=iterations, pv=pv)
    if workload in HOSTILE_KINDS:
        if iterations is not None:
            raise ValueError(f"{workload!r} is a hostile guest: it has no loop count "
                             "(iterations)")
        return hostile(workload)
    path = Path(workload)
    if path.suffix in (".s", ".S") and path.is_file():
        from .asm import assemble_file
        return assemble_file(path)
    if path.suffix == ".elf" and path.is_file():
        from .elf import load_elf_file
        return load_elf_file(path)
    raise ValueError(f"unknown workload {workload!r}; choose one of "
                     f"{', '.join(guest.WORKLOADS + HOSTILE_KINDS)}, or give a .s or .elf "
                     "file")


def run(workload, engine="hw", iterations=None, model="modern", max_instructions=50_000_000,
        console=None, quirks=(), fast=True, tlb_tagged=True, gstage_page=None, io=None,
        disk=None, batch=None):
    """Run `workload` under `engine`; return a RunResult (counters, cycles, console, ...).
    `quirks`: Popek-Goldberg lab switches of the host CPU (vmkit.hw.system.QUIRKS).
    `fast=False` runs the simulator's reference interpreter (same results, slower).
    `tlb_tagged`, `gstage_page`: the memory-virtualization switches of VirtualMachine.
    `io`: for an I/O workload, the technique of its disk (IO_TECHNIQUES; default virtio),
    `disk` the image (vmkit.vmm.io.disk; default a blank 1 MiB RawDisk), `batch` the virtio
    requests per doorbell."""
    technique = engine_class(engine)
    if io is not None and io not in IO_TECHNIQUES:
        raise ValueError(f"unknown I/O technique {io!r}; choose one of "
                         f"{', '.join(IO_TECHNIQUES)}")
    devices = []
    if workload in guest.IO_WORKLOADS:
        devices = disk_devices(io or "virtio", disk)
    elif io is not None or disk is not None:
        raise ValueError(f"{workload!r} uses no disk: io= and disk= are for "
                         f"{', '.join(guest.IO_WORKLOADS)}")
    program = load_program(workload, iterations, pv=technique.needs_pv_build, io=io,
                           batch=batch)
    vm = VirtualMachine(program, engine=engine, console=console, quirks=quirks, fast=fast,
                        tlb_tagged=tlb_tagged, gstage_page=gstage_page, io=devices)
    if io == "passthrough":
        from .hw.iommu import Iommu
        from .vmm.io.passthrough import assign
        assign(vm, devices[0], Iommu(vm.engine.host.machine.bus), device_id=0)
    start = time.perf_counter()
    stop = vm.run(max_instructions)
    wall = time.perf_counter() - start
    counters = vm.counters.as_dict()                      # with the MMU's counts
    counters.update(vm.engine.statistics())               # bt's TC, trap's shadows
    refused = paging_refused(workload, vm.engine)
    cycles = {} if refused else price(engine, counters, cost_model(model))
    return RunResult(engine=engine, workload=str(workload), counters=counters, cycles=cycles,
                     total_cycles=None if refused else sum(cycles.values()),
                     wall_s=round(wall, 4),
                     console=bytes(vm.console).decode("utf-8", "replace"),
                     exit_code=stop.code if stop.reason == "shutdown" else None,
                     exit_reason=stop.reason if not stop.message else
                     f"{stop.reason}: {stop.message}", paging_refused=refused)


# -- I/O virtualization: the same file copy under each technique ---------------------------------

# The lecture's three ways to virtualize I/O (the third, hardware support: vmm/io passthrough).
IO_TECHNIQUES = {
    "emulated": "software emulation (szoftveres emuláció): an ATA-style disk the unmodified "
                "driver reaches register by register (vmm/io/ata.py)",
    "virtio": "paravirtualization (paravirtualizáció): virtio-blk, a special driver that "
              "hands the VMM whole requests, a batch per doorbell (vmm/io/virtio_blk.py)",
    "passthrough": "hardware support (hardveres támogatás): the same virtio-blk as a physical "
                   "device assigned to the VM, its DMA checked by an IOMMU (VT-d), its "
                   "registers mapped into the guest where the engine can (vmm/io/"
                   "passthrough.py)",
}
DISK_SIZE = 1 << 20
# Turning estimated cycles into guest-visible time: an assumed clock, as no measured one applies
# to a simulated machine (assumption: a 3 GHz core, the order of the machines whose exit costs
# vmm/costs.py takes from the literature).
CLOCK_HZ = 3_000_000_000


def disk_devices(io, disk=None):
    """The I/O devices that give a guest a disk of technique `io`, over image `disk`."""
    from .vmm.io.ata import AtaDisk
    from .vmm.io.disk import RawDisk
    from .vmm.io.virtio_blk import VirtioBlk
    disk = RawDisk(size=DISK_SIZE) if disk is None else disk
    return [{"emulated": AtaDisk, "virtio": VirtioBlk, "passthrough": VirtioBlk}[io](disk)]


def io_figures(result, sectors):
    """Per-request figures of a run of the disk workload that moved `sectors` sectors each way:
    a request is one sector written or read, or the flush (2 * sectors + 1). Exits are every
    transition into the VMM but the console's SBI calls and the final shutdown."""
    requests = 2 * sectors + 1
    kib = 2 * sectors * 512 / 1024
    exits = sum(n for kind, n in result.counters["exits"].items() if kind != "sbi")
    seconds = (result.total_cycles or 0) / CLOCK_HZ
    return {"requests": requests, "kib": kib, "exits": exits,
            "exits_per_kib": exits / kib,
            "interrupts_per_request": result.counters["interrupts_injected"] / requests,
            "cycles_per_request": (result.total_cycles or 0) / requests,
            "throughput_mb_s": (kib * 1024 / 1e6) / seconds if seconds else None}


def compare_io(engines=DEFAULT_ENGINES, techniques=tuple(IO_TECHNIQUES), sectors=16, batch=8,
               model="modern"):
    """The disk workload (write `sectors`, flush, read them back) under each I/O technique and
    engine: [dict] rows of technique, engine, the io_figures and the RunResult (`result`)."""
    rows = []
    for io in techniques:
        for engine in engines:
            result = run("disk", engine, iterations=sectors, model=model, io=io, batch=batch)
            if result.exit_code != 0:
                raise RuntimeError(f"disk under {io}/{engine} failed: {result.exit_reason} "
                                   f"{result.console!r}")
            rows.append({"technique": io, "engine": engine, **io_figures(result, sectors),
                         "result": result})
    return rows


def paging_refused(workload, engine):
    """Did `engine` (an Engine) refuse the guest's own paging? A paging workload (guest.PAGING)
    under an engine without a `paging_mode`, or a guest the engine stopped when it turned
    paging on. Such a run is short and cheap only because it did not run: it is not priced."""
    return type(engine).paging_mode is None and (str(workload) in guest.PAGING
                                                 or engine.paging_refused)


def compare(workload, engines=DEFAULT_ENGINES, iterations=None, model="modern",
            max_instructions=50_000_000, quirks=(), fast=True, tlb_tagged=True,
            gstage_page=None, io=None, disk_path=None):
    """The same workload under each engine: a list of RunResults, in `engines` order.
    `gstage_page` applies to the engines with a G-stage table (hw), the others ignore it.
    `io`: the disk workload's technique; `disk_path`: a raw image each run opens in turn (so
    each run finds what the one before left: the workload writes the same data each time).
    A workload that pages, under an engine that refuses guest paging, gives a row marked
    `paging_refused` and not priced (see paging_refused)."""
    for name in engines:
        engine_class(name)                 # every name checked before the first run
    def disk():
        if disk_path is None:
            return None
        from .vmm.io.disk import RawDisk
        return RawDisk(path=disk_path)
    return [run(workload, name, iterations, model, max_instructions, quirks=quirks, fast=fast,
                tlb_tagged=tlb_tagged,
                gstage_page=gstage_page if engine_class(name).gstage_pages else None,
                io=io, disk=disk())
            for name in engines]


def price(engine, counters, model):
    """Estimated cycles of a run's `counters` under `engine`, by cost model `model` (a
    CostModel): its exits are priced as VM exits where the engine has them (hw), else as
    trap round trips. Re-pricing needs no rerun: the counts are facts, the prices assumptions."""
    return model.estimate(counters, vm_exits=engine_class(engine).has_vm_exits)


# -- exit reasons: one table, printed by the notebooks, checked against every run by the tests ---

# ExitReason -> (when it happens on RISC-V, the x86 name, counted in counters["exits"]?)
# Counted exits are transitions into the VMM that the cost model prices; the others are
# bookkeeping of the run loop (vm.py) and never appear in a run's exit counts.
_EXITS = {
    ExitReason.SBI: (
        "the guest kernel calls its firmware: ecall from S-mode (native, cause 9), from VS-mode "
        "(hw, cause 10), or from the deprivileged kernel in U-mode (trap, pv; cause 8)",
        "VMCALL (a hypercall to the VMM; natively a BIOS/firmware call)"),
    ExitReason.MMIO: (
        "a load or store to a device address (the UART): a guest-page fault (hw, causes 21/23) or "
        "a page fault on the unmapped device page (trap, bt, pv; causes 13/15); the VMM emulates "
        "the access",
        "EPT violation / MMIO exit; for port I/O: I/O instruction exit (IN/OUT)"),
    ExitReason.ILLEGAL_INSTRUCTION: (
        "a privileged instruction of the deprivileged guest kernel (csrr sstatus, sret, wfi, ...) "
        "trapped as illegal in U-mode (cause 2); the VMM emulated it on the vCPU record",
        "#GP of a privileged instruction in ring 1/3 (software VMM); VT-x: CR access, "
        "RDMSR/WRMSR, ... exits"),
    ExitReason.ECALL: (
        "the guest's own system call (ecall from its U-mode, cause 8) arrived at the VMM, which "
        "reflected it into the guest kernel",
        "INT 0x80 / SYSCALL caught by a software VMM and reflected (under VT-x a guest syscall "
        "does not exit)"),
    ExitReason.EXCEPTION: (
        "another guest exception (fault, breakpoint, illegal instruction of the guest's own) "
        "arrived at the VMM, which reflected it into the guest kernel",
        "exception or NMI exit (#PF, #DE, #UD, ...) reflected into the guest"),
    ExitReason.INTERRUPT: (
        "the VMM delivered a virtual interrupt (the guest's timer) into the guest kernel",
        "event injection at VM entry (external-interrupt / interrupt-window exits)"),
    ExitReason.PAGE_FAULT: (
        "trap: the guest pages and an access missed in the VMM's shadow page table; the VMM "
        "walked the guest's table and filled the shadow (a hidden fault: the guest never sees "
        "it; a true fault is an exception)",
        "#PF exit absorbed by a shadow-paging VMM (VMware, KVM without EPT)"),
    ExitReason.WFI: (
        "the guest waits for an interrupt (wfi, or the pv IDLE hypercall) with none pending: the "
        "VMM lets guest time pass to its timer",
        "HLT exit"),
    ExitReason.VIRTUAL_INSTRUCTION: (
        "hw: the guest in VS/VU-mode used an instruction only the hypervisor may use (cause 22, "
        "virtual instruction); it gets an illegal-instruction exception",
        "VT-x exits for VMX instructions executed in the guest (VMXON, VMREAD, ...)"),
    ExitReason.FAULT: (
        "hw: the guest jumped outside its RAM (instruction guest-page fault, cause 20); the VMM "
        "gives it an instruction access fault",
        "EPT violation on an instruction fetch"),
    ExitReason.HYPERCALL: (
        "pv: the paravirtual kernel called the VMM on purpose (ecall with a7 = EID_PV: trap "
        "return, trap vector, CSR batch, idle, event check)",
        "Xen hypercall (int 0x82 / the hypercall page; VMCALL under HVM)"),
    ExitReason.ERROR: (
        "the VMM stopped the guest (it cannot continue: a trap storm, an unsupported operation)",
        "KVM_EXIT_INTERNAL_ERROR; triple fault -> shutdown"),
    ExitReason.BUDGET: (
        "not an exit: the run loop's time slice ran out (the VMM regains control to deliver the "
        "guest's timer)",
        "VMX-preemption timer exit"),
    ExitReason.IDLE: (
        "not an exit: the hart itself slept in wfi (the VMM lets guest time pass)",
        "HLT with no exit (HLT exiting off)"),
    ExitReason.CALLOUT: (
        "bt: the translated code called into the VMM (a jump, not a trap): counted as tc_callouts "
        "and priced as a callout, not as an exit",
        "VMware BT callout into the VMM"),
}
EXIT_REASONS = {reason: (riscv, x86, reason not in NOT_EXITS)
                for reason, (riscv, x86) in _EXITS.items()}


def exit_glossary():
    """The glossary of exit reasons as rows: reason, RISC-V (vmkit), x86, counted as an exit."""
    return [{"reason": str(reason), "riscv": riscv, "x86": x86, "counted": counted}
            for reason, (riscv, x86, counted) in EXIT_REASONS.items()]


def exit_glossary_markdown():
    """The glossary as a Markdown table (a notebook shows it with IPython's Markdown)."""
    lines = ["| exit reason | when (RISC-V, vmkit) | x86 name |", "|---|---|---|"]
    for row in exit_glossary():
        name = f"`{row['reason']}`" + ("" if row["counted"] else " (not counted)")
        lines.append(f"| {name} | {row['riscv']} | {row['x86']} |")
    return "\n".join(lines)


# -- the timeline of one system call: recorded from a run, step by step ---------------------------

class Step(NamedTuple):
    """One step of a timeline: who acts ("guest U", "guest S", "hart", "VMM"), what happens,
    and the exit reason if this step is an exit the run counts (else "")."""
    actor: str
    text: str
    exit: str = ""


MODES = {0: "U", 1: "S", 3: "M"}


def syscall_timeline(engine, call=3):
    """The steps of the guest, the hart and the VMM during one system call of the `syscall`
    workload under `engine`: from the user program's `ecall` to its next instruction.

    Recorded from a real run: the hart (or emulate's software CPU) reports every instruction
    it retires and every trap it takes, and the VMM's entry points report what it did. `call`
    picks which system call (the third: bt's translations are made and chained by then)."""
    technique = engine_class(engine)
    if type(call) is not int or not 1 <= call <= 8:
        raise ValueError(f"call must be an integer from 1 to 8, not {call!r}")
    program = load_program("syscall", iterations=call + 1, pv=technique.needs_pv_build)
    vm = VirtualMachine(program, engine=engine)
    events = []
    _record(vm, events, call)
    stop = vm.run(1_000_000)
    if stop.reason != "shutdown":
        raise RuntimeError(f"the syscall workload did not finish under {engine}: {stop}")
    names = {address: name for name, address in program.symbols.items()}
    return _steps(_one_call(events, call), vm, names)


def format_timeline(steps):
    """A timeline as text, one step a line: `actor | what happens`."""
    return "\n".join(f"{s.actor:<9}| {s.text}" + (f"   [exit: {s.exit}]" if s.exit else "")
                     for s in steps)


def _record(vm, events, call):
    """Make the CPU that runs guest code and the VMM report to `events` (instance attributes
    shadow the methods). Instructions are reported from the `call`-th system call to the user
    program's next instruction only: while `trace` is set the hart runs one at a time."""
    engine = vm.engine
    cpu = engine.cpu
    guest_mode = engine.guest_privilege

    def retired(line):                 # Spike's commit line: privilege before, pc, instruction
        _, _, priv, pc, word = line.split()[:5]
        priv = int(priv)
        mode = guest_mode() if engine.deprivileged else priv
        host = ("V" if getattr(cpu, "virt", False) else "") + MODES[priv]
        events.append(("run", mode, host, int(pc, 16), int(word[3:-1], 16)))
        if mode == 0:                              # back in the user program: enough
            cpu.trace = None
    calls = []

    take_trap = cpu.take_trap
    def trapped(exception, interrupt=False):
        target = cpu.trap_target(exception.cause, interrupt)
        events.append(("trap", guest_mode(), _host_mode(cpu), cpu.pc, exception.cause,
                       exception.tval, target, target in cpu.intercept))
        if exception.cause == ECALL_FROM_U and guest_mode() == 0:
            calls.append(cpu.pc)
            if len(calls) == call:
                cpu.trace = retired
        return take_trap(exception, interrupt)
    cpu.take_trap = trapped

    def report(owner, name):
        method = getattr(owner, name, None)
        if method is None:
            return
        def wrapper(*args, **kwargs):
            events.append(("vmm", name, args))
            return method(*args, **kwargs)
        setattr(owner, name, wrapper)
    for name in ("reflect", "emulate_privileged", "hypercall", "serve_callout"):
        report(engine, name)
    report(vm.sbi, "handle")

    enter = engine.enter
    def entered(budget):
        exit = enter(budget)
        events.append(("exit", exit.kind, exit.callout))
        return exit
    engine.enter = entered


def _host_mode(cpu):
    return ("V" if getattr(cpu, "virt", False) else "") + MODES[cpu.priv]


def _insn(word, pc=0):
    return disassemble_word(word, pc).replace("\t", " ")


def _one_call(events, call):
    """The events from the `call`-th ecall of guest U-mode to the next guest U instruction."""
    starts = [i for i, e in enumerate(events)
              if e[0] == "trap" and e[1] == 0 and e[4] == ECALL_FROM_U]
    start = starts[call - 1]
    for end in range(start + 1, len(events)):
        if events[end][0] == "run" and events[end][1] == 0:
            return events[start:end + 1]
    raise RuntimeError("the system call never returned to the user program")


def _steps(events, vm, names):
    engine = vm.engine
    software = engine.software_cpu               # the "hart" is the VMM's software CPU
    hart = "VMM" if software else "hart"
    steps, run = [], []

    def flush():
        if run:
            mode, host, tc = run[0][1], run[0][2], run[0][3]
            if tc is not None:
                how = f"the translation of {tc} ({len(run)} host instructions, in the TC)"
                text = f"runs {how} in real {host}-mode"
            else:
                text = "; ".join(f"`{insn}`" for *_, insn in run)
                where = ("interpreted by the VMM's software CPU" if software
                         else f"directly on the hart in real {host}-mode")
                if host == "VS" and any("csr" in insn for *_, insn in run):
                    where += " (its CSR accesses reach the VS copies: vsscratch, vsepc, ...)"
                text = f"{text}: {where}"
            steps.append(Step("guest " + MODES[mode], text))
            run.clear()

    for event in events:
        kind = event[0]
        if kind == "run":
            _, mode, host, pc, word = event
            tc = _translation_of(engine, pc, names)
            if run and (run[0][1], run[0][2], run[0][3]) != (mode, host, tc):
                flush()
            run.append((kind, mode, host, tc, _insn(word, pc)))
            continue
        flush()
        if kind == "trap":
            _, mode, host, pc, cause, tval, target, intercepted = event
            what = "`ecall`" if cause in (8, 9, 10) else \
                f"`{_insn(tval, pc)}`" if cause == 2 else cause_name(cause)
            if _translation_of(engine, pc, names) is not None:
                steps.append(Step("guest " + MODES[mode], "the translation calls the VMM "
                                  "(a callout; x86 BT: a call into the VMM, no trap)"))
            elif software:
                steps.append(Step("guest " + MODES[mode], f"{what} in {host}-mode"))
                steps.append(Step(hart, f"its software CPU takes the trap "
                                  f"({cause_name(cause)}) to the guest kernel, as the "
                                  "hardware would: pc = stvec"))
            elif intercepted:
                steps.append(Step("guest " + MODES[mode], f"{what} in real {host}-mode"))
                steps.append(Step(hart, f"trap ({cause_name(cause)}) to {target}-mode, "
                                        "where the VMM runs: an exit"))
            else:
                deleg = "hedeleg" if target == "VS" else "medeleg"
                target = "S" if target == "HS" else target    # no hypervisor: plain S-mode
                steps.append(Step("guest " + MODES[mode], f"{what} in {host}-mode"))
                steps.append(Step(hart, f"trap ({cause_name(cause)}) straight to the guest "
                                  f"kernel in {target}-mode ({deleg}): pc = "
                                  f"{'vs' if target == 'VS' else 's'}tvec; no VMM"))
        elif kind == "vmm":
            text = _vmm_text(engine, event[1], event[2])
            if text:
                steps.append(Step("VMM", text))
        elif kind == "exit":
            _, reason, callout = event
            if reason not in NOT_EXITS and not callout:
                steps.append(Step("VMM", "resumes the guest", exit=str(reason)))
    flush()
    return steps


def _translation_of(engine, pc, names):
    """bt: the guest block whose translation holds host address `pc`, as `symbol+offset`."""
    translation = engine.translation_at(pc)
    if translation is None:
        return None
    return "a block" if translation[0] is None else _symbol(translation[0], names)


def _symbol(address, names):
    best = max((a for a in names if a <= address), default=None)
    if best is None:
        return f"{address:#x}"
    offset = address - best
    return names[best] + (f"+{offset}" if offset else "")


def _vmm_text(engine, name, args):
    if name == "reflect":
        cause, interrupt = args[0], len(args) > 2 and args[2]
        where = engine.reflection
        return (f"reflects the {cause_name(cause | (INTERRUPT_BIT if interrupt else 0))} into "
                f"the guest kernel: {where}, pc = the guest's stvec")
    if name == "emulate_privileged":
        return f"emulates `{_insn(args[0])}` on the vCPU record"
    if name == "hypercall":
        return f"hypercall {args[0].fid} ({PV_CALLS.get(args[0].fid, 'unknown')})"
    if name == "serve_callout":      # a sensitive instruction: emulate_privileged says which
        return {"goto": "finds (or makes) the translation of the next block",
                "jalr": "computes an indirect jump's target and runs its translation",
                "pending": "delivers the interrupt that waited",
                "budget": "ends the time slice"}.get(args[0][0], "")
    if name == "handle":
        return "serves an SBI call"
    return name


PV_CALLS = {0: "REGISTER_VCPU_PAGE", 1: "SET_TRAP_VECTOR", 2: "TRAP_RETURN", 3: "CSR_BATCH",
            4: "IDLE", 5: "EVENT_CHECK"}


# -- the paravirtual source change: priv.inc with PV = 0 and PV = 1 --------------------------------

def paravirtual_macros():
    """{macro: (PV = 0 body, PV = 1 body)} for every privileged-operation macro of
    vmkit/guest/priv.inc: the two branches of its `.if PV`, read from the source file itself."""
    text = resources.files("vmkit.guest").joinpath("priv.inc").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() == [".if", "PV"])
    depth, middle = 0, None
    for end in range(start, len(lines)):
        word = lines[end].split()[0] if lines[end].split() else ""
        if word.startswith(".if"):
            depth += 1
        elif word == ".endif":
            depth -= 1
            if depth == 0:
                break
        elif word == ".else" and depth == 1:
            middle = end
    pv, native = _macros(lines[start + 1:middle]), _macros(lines[middle + 1:end])
    return {name: (native[name], pv[name]) for name in native if name in pv}


def _macros(lines):
    """{name: its lines from `.macro` to `.endm`} in a piece of assembly."""
    macros, name = {}, None
    for line in lines:
        words = line.split()
        if words[:1] == [".macro"]:
            name = words[1]
            macros[name] = []
        if name is not None:
            macros[name].append(line.rstrip())
        if words[:1] == [".endm"]:
            name = None
    return {name: "\n".join(body) for name, body in macros.items()}
