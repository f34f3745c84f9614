"""The `vmkit` command.

    vmkit asm prog.s -o prog.elf        assemble (errors: file:line:col: message, exit 1)
    vmkit disasm prog.elf               disassemble, as objdump -d prints it
    vmkit run prog.s|prog.elf           run bare-metal on the host machine (M-mode start)
    vmkit run --guest W --engine E      run a workload as a guest under the VMM
    vmkit run --guest W --paging M      ... under the engine that virtualizes its paging by M
    vmkit run --guest a=W --guest b=W:E several guests on one host, consoles prefixed [a], [b]
    vmkit compare W                     the same workload under every technique
    vmkit snapshot W --after N -o F     run a guest N instructions, save the whole VM in F
    vmkit restore F                     go on from a snapshot, printing the guest's console
    vmkit bench [--json]                simulator speed (MIPS) per workload and paging mode
    vmkit demo                          a guided first run
    vmkit workbook [DIR]                copy the notebooks into DIR and open JupyterLab there

Bad input (a missing file, an assembler error, a malformed ELF, an option that does not apply
to what was asked) prints one clear message to stderr and exits non-zero; vmkit never shows a
Python traceback for it.
"""

import argparse
import json
import math
import os
import stat
import sys
import textwrap

# Exit statuses of `vmkit run` that are not the guest's own.
STATUS_BUDGET = 124        # like timeout(1): the instruction budget ran out
STATUS_WAITING = 125       # wfi with nothing that can ever wake the hart
STATUS_ERROR = 70          # vmkit's own failure (EX_SOFTWARE)

GSTAGE_PAGES = {"4k": 4 << 10, "4m": 4 << 20}  # --gstage-page: G-stage leaf sizes

# Upper bounds of numeric options, so that a typo is an error rather than a day-long run.
MAX_BUDGET = 10 ** 12      # --max-insns: about a day of simulation
MAX_REPEAT = 100           # bench --repeat: runs per row
MAX_SCALE = 100            # bench --scale: 100x still fits bench's 100 M instruction budget


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 1."""


class OptionError(UsageError):
    """Options that do not go together, or a path that names no regular file; exit status 2,
    as argparse's own usage errors."""


class SnapshotFileError(UsageError):
    """A snapshot that cannot be written, read or loaded; exit status 2."""


def _existing(path):
    """`path`, or one clear line when there is nothing there (before anything else is done).

    Only a regular file: a FIFO would block the open, /dev/zero would never end; stat tells
    before anything is opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise UsageError(f"vmkit: no such file: {path}") from None
    if not stat.S_ISREG(mode):
        raise OptionError(f"vmkit: {path} is not a regular file")
    return path


def _writable(path):
    """`path` for an output file, unless opening it would block (a FIFO with no reader)."""
    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            raise OptionError(f"vmkit: {path} is a FIFO; give a file to write")
    except OSError:
        pass                                    # not there yet: open creates it
    return path


def _is_file_workload(workload):
    """A workload given as a file (foo.s, dir/foo.elf) rather than a built-in name."""
    from vmkit import guest
    return workload not in guest.WORKLOADS + guest.IO_WORKLOADS and (
        workload.endswith((".s", ".S", ".elf")) or os.sep in workload)


def _assemble_file(path):
    from vmkit.asm import AsmError, assemble_file
    try:
        return assemble_file(path)
    except AsmError as error:
        raise UsageError(str(error)) from None


def _load_elf_file(path):
    from vmkit.elf import ElfError, load_elf_file
    try:
        return load_elf_file(path)
    except ElfError as error:
        raise UsageError(str(error)) from None


def cmd_asm(args):
    _existing(args.source)
    program = _assemble_file(args.source)
    output = _writable(args.output or _replace_suffix(args.source, ".elf"))
    try:
        with open(output, "wb") as f:
            f.write(program.to_elf())
    except OSError as error:
        raise UsageError(f"{output}: cannot write: {error.strerror}") from None
    return 0


def cmd_disasm(args):
    from vmkit.disasm import disassemble
    image = _load_elf_file(_existing(args.elf))
    sys.stdout.write(disassemble(image, priv_spec=args.priv_spec))
    return 0


def cmd_run(args):
    _check_run_options(args)
    if args.guest is not None:
        return cmd_run_host(args) if _several(args.guest) else cmd_run_guest(args)
    _existing(args.program)
    from vmkit.hw.machine import Machine

    def console(data):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    # The file is read and checked before the machine (and its 128 MiB of RAM) exists.
    source = args.program.endswith((".s", ".S", ".asm"))
    program = _assemble_file(args.program) if source else _load_elf_file(args.program)
    machine = Machine(output=console, fast=not args.reference)
    try:
        if source:
            machine.load_program(program)
        else:
            machine.load_elf(program)
    except ValueError as error:
        raise UsageError(f"{args.program}: {error}") from None

    trace_file = None
    if args.trace:
        try:
            trace_file = open(_writable(args.trace), "w")
        except OSError as error:
            raise UsageError(f"{args.trace}: cannot write: {error.strerror}") from None
        machine.hart.trace = lambda line: trace_file.write(line + "\n")
    try:
        exit = machine.run(args.max_insns)
    finally:
        if trace_file:
            trace_file.close()
    return _report(exit, args)


def _check_run_options(args):
    """Refuse options that would be ignored: each applies to a bare-metal run or to a guest."""
    if args.guest is None:
        if args.program is None:
            raise OptionError("vmkit run: give a program (PROG.s or PROG.elf), or --guest "
                              "WORKLOAD")
        for option, value in (("--engine", args.engine), ("--iterations", args.iterations),
                              ("--quirk", args.quirk), ("--stats", args.stats),
                              ("--json", args.json), ("--gstage-page", args.gstage_page),
                              ("--untagged-tlb", args.untagged_tlb), ("--paging", args.paging),
                              ("--io", args.io), ("--disk", args.disk)):
            if value:
                raise OptionError(f"vmkit run: {option} applies only to a guest (--guest W)")
        if args.model:
            raise OptionError("vmkit run: --model prices a guest's exits; a bare-metal run "
                              "is not priced")
        return
    if args.program is not None:
        raise OptionError(f"vmkit run: give a program or --guest, not both ({args.program} "
                          f"and --guest {args.guest[0]})")
    if args.trace:
        raise OptionError("vmkit run: --trace logs a bare-metal run only (not --guest)")
    if _several(args.guest):
        _check_host_options(args)
        return
    if args.stats and args.json:
        raise OptionError("vmkit run: --stats or --json, not both (the JSON row has the "
                          "counters)")
    if args.model and not (args.stats or args.json):
        raise OptionError("vmkit run: --model prices the run: add --stats or --json to see "
                          "the cycles")
    _, workload, engine = _parse_guest(args.guest[0], _default_engine(args))
    _check_paging("vmkit run", engine, args.paging)
    _check_workload(workload, args.iterations)
    _check_io("vmkit run", workload, args)


def _default_engine(args):
    """The engine of a --guest that names none: --engine, else the first engine offering
    --paging, else None (parse_guest's default)."""
    if args.engine or not args.paging:
        return args.engine
    from vmkit.vmm.engines import offering
    return offering(args.paging)[0]


def _check_paging(command, engine, mode):
    """--paging MODE: `engine` must virtualize guest paging that way (Engine.paging_mode)."""
    from vmkit.vmm.engines import engine_class, offering
    own = engine_class(engine).paging_mode
    if mode is None or own == mode:
        return
    how = f"virtualizes guest paging by {own}, not {mode}" if own else \
        "refuses guest paging"
    raise OptionError(f"{command}: engine {engine} {how} (--paging {mode}: "
                      f"{', '.join(offering(mode))})")


def _several(specs):
    """Several guests on one host: more than one --guest, or one given a NAME=."""
    return len(specs) > 1 or "=" in specs[0]


def _parse_guest(spec, engine):
    from vmkit.hosts import parse_guest
    try:
        return parse_guest(spec, engine or "hw")
    except ValueError as error:
        raise OptionError(f"vmkit run: {error}") from None


def _check_host_options(args):
    """Several guests: each spec parses, each file exists, the options apply to them."""
    for option, value in (("--stats", args.stats), ("--json", args.json),
                          ("--model", args.model), ("--gstage-page", args.gstage_page),
                          ("--untagged-tlb", args.untagged_tlb), ("--paging", args.paging),
                          ("--io", args.io), ("--disk", args.disk)):
        if value:
            raise OptionError(f"vmkit run: {option} applies to one guest; several guests "
                              "print a summary per VM")
    from vmkit import guest
    from vmkit.hosts import default_names
    from vmkit.vmm.engines import engine_class
    guests = [_parse_guest(spec, args.engine) for spec in args.guest]
    try:
        default_names(guests)
    except ValueError as error:
        raise OptionError(f"vmkit run: {error}") from None
    if sum(bool(getattr(engine_class(e), "bare_metal", False)) for _, _, e in guests) > 1:
        raise OptionError("vmkit run: only one guest may be native: it owns the bare metal "
                          "(host RAM at 0x80000000, the host's UART)")
    workloads = [workload for _, workload, _ in guests]
    for workload in workloads:
        if _is_file_workload(workload):
            _existing(workload)
    if args.iterations and not any(w in guest.WORKLOADS for w in workloads):
        raise OptionError("vmkit: --iterations sets the loop count of built-in workloads; "
                          "none of these guests is one")


def _check_workload(workload, iterations):
    if _is_file_workload(workload):
        _existing(workload)
        if iterations:
            raise OptionError(f"vmkit: --iterations sets a built-in workload's loop count; "
                              f"{workload} is a file")


def _check_io(command, workload, args):
    """--io and --disk give the disk workload its disk; any other workload has none."""
    from vmkit import guest
    if (args.io or args.disk) and workload not in guest.IO_WORKLOADS:
        raise OptionError(f"{command}: --io and --disk are for the workloads with a disk "
                          f"({', '.join(guest.IO_WORKLOADS)}); {workload} has none")
    if args.disk:
        _existing(args.disk)


def _io(args):
    """lab.run's io= and disk= from --io and --disk (a raw image, used in place)."""
    if not args.disk:
        return {"io": args.io}
    from vmkit.vmm.io.disk import DiskError, RawDisk
    try:
        return {"io": args.io, "disk": RawDisk(path=args.disk)}
    except (DiskError, OSError) as error:
        raise UsageError(f"vmkit: {args.disk}: {error}") from None


def cmd_run_guest(args):
    """Run a workload as a guest under the VMM with one engine."""
    from vmkit import lab
    _, workload, engine = _parse_guest(args.guest[0], _default_engine(args))
    stream = None if args.json else _stream_console
    result = _lab_call(lab.run, workload, engine, iterations=args.iterations,
                       model=args.model or "modern", max_instructions=args.max_insns,
                       console=stream, quirks=_quirks(args), fast=not args.reference,
                       **_memory(args), **_io(args))
    if args.json:
        print(json.dumps([result.to_dict()], indent=1))
    elif args.stats:
        sys.stdout.flush()
        print(_stats_text(result), file=sys.stderr)
    if result.exit_code is None:
        print(f"vmkit: the guest did not shut down: {result.exit_reason}", file=sys.stderr)
        return STATUS_BUDGET if result.exit_reason.startswith("budget") else STATUS_ERROR
    return result.exit_code


def cmd_run_host(args):
    """Several guests on one host: their console lines prefixed by name, then one row per VM.
    Exit status: 0 if every guest shut down with 0, else the first other guest's (its code,
    or as a bare-metal run's: still running, waiting forever in wfi, stopped with an error)."""
    from vmkit.hosts import add_guests, report_table
    from vmkit.vmm.host import Host, host_ram
    host = Host(ram_size=host_ram(len(args.guest)), fast=not args.reference)
    guests = _lab_call(add_guests, host, args.guest, args.engine or "hw",
                       iterations=args.iterations, quirks=_quirks(args),
                       write=_stream_text)
    report = host.run(args.max_insns)
    for _, console in guests:
        console.flush()
    print(report_table(host, report))
    statuses = [_guest_status(vm.stop) for vm, _ in guests]
    failed = [vm.name for (vm, _), status in zip(guests, statuses) if status]
    if failed:
        print(f"vmkit: {len(failed)} of {len(guests)} guests did not shut down with 0: "
              f"{', '.join(failed)}", file=sys.stderr)
    return next((status for status in statuses if status), 0)


def _guest_status(stop):
    if stop is None:
        return STATUS_BUDGET
    if stop.reason == "shutdown":
        return stop.code
    return STATUS_WAITING if stop.reason == "wfi" else STATUS_ERROR


def cmd_snapshot(args):
    """Run a guest for --after instructions, then save the whole VM (vmkit/vmm/snapshot.py)."""
    from vmkit import lab
    from vmkit.vmm.engines import ENGINES
    from vmkit.vmm.vm import VirtualMachine
    _check_workload(args.guest, args.iterations)
    engine = args.engine or "hw"
    program = _lab_call(lab.load_program, args.guest, args.iterations,
                        pv=ENGINES[engine].needs_pv_build)
    vm = _lab_call(VirtualMachine, program, engine=engine, console=_stream_console,
                   quirks=_quirks(args), fast=not args.reference)
    stop = vm.run(args.after)
    try:
        vm.save(_writable(args.output))
    except OSError as error:
        raise SnapshotFileError(f"vmkit: {args.output}: cannot write: {error.strerror}") \
            from None
    except ValueError as error:              # a state the engine cannot save (pv: pinned)
        raise SnapshotFileError(f"vmkit: {args.output}: not saved: {error}") from None
    sys.stdout.flush()
    ended = "" if stop.reason == "budget" else f" (the guest stopped: {stop.reason})"
    print(f"vmkit: saved {args.output}: {args.guest} under {engine} after "
          f"{vm.counters.guest_instructions} guest instructions{ended}", file=sys.stderr)
    return 0


def cmd_restore(args):
    """Go on from a snapshot; the guest's console output from there on goes to stdout."""
    from vmkit.vmm.snapshot import SnapshotError
    from vmkit.vmm.vm import VirtualMachine
    try:
        vm = VirtualMachine.restore(args.snapshot, console=_stream_console)
    except SnapshotError as error:
        raise SnapshotFileError(f"vmkit: {error}") from None
    stop = vm.run(args.max_insns)
    if stop.reason == "shutdown":
        return stop.code
    sys.stdout.flush()
    print(f"vmkit: the guest did not shut down: {stop.reason}"
          f"{': ' + stop.message if stop.message else ''}", file=sys.stderr)
    return STATUS_BUDGET if stop.reason == "budget" else STATUS_ERROR


def cmd_compare(args):
    from vmkit import lab
    _check_workload(args.workload, args.iterations)
    _check_io("vmkit compare", args.workload, args)
    from vmkit.vmm.costs import REFUSED
    engines = _compared_engines(args)
    results = _lab_call(lab.compare, args.workload, engines, iterations=args.iterations,
                        model=args.model, max_instructions=args.max_insns,
                        quirks=_quirks(args), fast=not args.reference, **_memory(args),
                        io=args.io, disk_path=args.disk)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
        return 0
    categories = sorted({c for r in results for c in r.cycles})
    header = f"{'engine':<9} {'guest insns':>11} {'exits':>7} {'est. cycles':>12}  " + \
        "  ".join(f"{c:>10}" for c in categories)
    print(f"{args.workload}: cost model {args.model!r} (cycles are estimates from counted "
          "events; see vmkit/vmm/costs.py)")
    print(header)
    for r in results:
        exits = sum(r.counters["exits"].values())
        row = f"{r.engine:<9} {r.counters['guest_instructions']:>11} {exits:>7} "
        print(row + (f"{REFUSED:>12}" if r.paging_refused else f"{r.total_cycles:>12}  " +
                     "  ".join(f"{r.cycles.get(c, 0):>10}" for c in categories)))
    ran = [r for r in results if not r.paging_refused]
    consoles = {r.console for r in ran}
    if len(ran) < len(results):
        print("(an engine that refuses guest paging did not run the workload: not priced)")
    print("console output identical under every engine that ran it" if len(consoles) <= 1
          else "WARNING: the console output differs between engines")
    return 0


def _compared_engines(args):
    """--engines (default: every engine), each checked against --paging; with --paging and
    no --engines, the engines offering that paging mode."""
    from vmkit import lab
    from vmkit.vmm.engines import ENGINES, offering
    if not args.engines:
        return offering(args.paging) if args.paging else lab.DEFAULT_ENGINES
    engines = tuple(args.engines.split(","))
    for engine in engines:
        if engine in ENGINES:                    # (lab.compare names an unknown one)
            _check_paging("vmkit compare", engine, args.paging)
    return engines


def _quirks(args):
    return tuple(q for q in (args.quirk or "").split(",") if q)


def _lab_call(function, *args, **kwargs):
    from vmkit.asm import AsmError
    from vmkit.elf import ElfError
    from vmkit.vmm.costs import CostError
    try:
        return function(*args, **kwargs)
    except (AsmError, ElfError, CostError, ValueError) as error:
        raise UsageError(f"vmkit: {error}") from None


def _stream_console(data):
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _stream_text(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def _stats_text(result):
    from vmkit.vmm.costs import REFUSED
    c = result.counters
    shadow = [f"{c[key]} {name}" for key, name in SHADOW_COUNTERS if key in c]
    lines = [f"--- {result.workload} under {result.engine}: {result.exit_reason}",
             f"guest instructions {c['guest_instructions']} (direct {c['direct_instructions']},"
             f" emulated {c['emulated_instructions']}), idle {c['idle']}",
             "exits " + (", ".join(f"{k}={v}" for k, v in sorted(c["exits"].items()))
                         or "none"),
             f"TLB {c['tlb_lookups']} lookups, {c['tlb_misses']} misses, {c['tlb_flushes']} "
             f"flushes; {c['page_walks']} walks reading {c['walk_references']} PTEs (HS "
             f"{c['walk_references_hs']}, VS {c['walk_references_vs']}, G "
             f"{c['walk_references_g']}, of them 2D {c['walk_references_2d']})",
             *(["shadow paging: " + ", ".join(shadow)] if shadow else []),
             f"estimated cycles: the engine {REFUSED}" if result.paging_refused else
             f"estimated cycles {result.total_cycles}: " +
             ", ".join(f"{k}={v}" for k, v in result.cycles.items() if v)]
    return "\n".join(lines)


# What --stats prints of the shadow-paging counters (trap's statistics, vmm/shadow.py).
SHADOW_COUNTERS = (("hidden_faults", "hidden faults"), ("true_faults", "true faults"),
                   ("shadow_switches", "switches"), ("shadow_fences", "fences"),
                   ("shadow_evictions", "evictions"))


def _report(exit, args):
    if exit.reason == "poweroff":
        return exit.code
    if exit.reason == "budget":
        print(f"vmkit: stopped after {exit.instructions} instructions (--max-insns) at "
              f"pc={exit.pc:#010x}", file=sys.stderr)
        return STATUS_BUDGET
    if exit.reason == "wfi":
        print(f"vmkit: the program waits (wfi at pc={exit.pc - 4:#010x}) with no interrupt "
              "that can wake it", file=sys.stderr)
        return STATUS_WAITING
    if exit.reason == "reset":
        print("vmkit: the program asked for a reset", file=sys.stderr)
        return 0
    print(f"vmkit: {exit.describe()}", file=sys.stderr)
    return STATUS_ERROR


DEMO = """\
# A first program: print a greeting on the UART, then power the machine off.
        .equ UART, 0x10000000
        .equ FINISHER, 0x100000
        .text
        .globl _start
_start:
        la      s0, message
        li      s1, UART
1:      lbu     a0, 0(s0)          # next character
        beqz    a0, 2f
        sb      a0, 0(s1)          # THR: transmit
        addi    s0, s0, 1
        j       1b
2:      li      t0, FINISHER
        li      t1, 0x5555         # "pass": QEMU's sifive_test exits with status 0
        sw      t1, 0(t0)
3:      j       3b
        .data
message:
        .asciz  "Hello from a RISC-V hart simulated in Python!\\n"
"""


def cmd_demo(args):
    from vmkit.asm import assemble
    from vmkit.disasm import disassemble_word
    from vmkit.hw.machine import Machine

    print("vmkit demo: assemble a small program, show its machine code, run it.\n")
    program = assemble(DEMO, "demo.s")
    text_name, text_address, text = program.sections[0]
    print(f"--- {text_name} at {text_address:#010x} ---")
    for offset in range(0, len(text), 4):
        word = int.from_bytes(text[offset:offset + 4], "little")
        address = text_address + offset
        print(f"  {address:08x}:  {word:08x}  {disassemble_word(word, address)}")
    print("\n--- running on the simulated machine (UART output follows) ---")
    machine = Machine(output=lambda data: (sys.stdout.write(data.decode("utf-8", "replace")),
                                           sys.stdout.flush()))
    machine.load_program(program)
    exit = machine.run(100_000)
    print(f"--- {exit.describe()} after {exit.instructions} instructions ---")
    print(DEMO_NEXT)
    return 0 if exit.reason == "poweroff" and exit.code == 0 else 1


DEMO_NEXT = """
What to try next:
  vmkit run --guest tinyos --engine trap --stats   a small kernel as a guest, trap-and-emulate,
                                                   and what the hypervisor counted
  vmkit compare tinyos                             the same kernel under all six techniques
  vmkit run --guest a=tinyos --guest b=halt:trap   two guests on one host: b halts, a goes on
  vmkit run --help                                 your own program, bare-metal or as a guest
  vmkit workbook                                   the notebooks, in JupyterLab"""


def cmd_bench(args):
    from vmkit import bench
    sys.stdout.write(bench.main(as_json=args.json, repeat=args.repeat, scale=args.scale))
    return 0


def cmd_workbook(args):
    import shlex
    from importlib.util import find_spec

    from vmkit import workbook
    source = workbook.source_folder()
    if source is None:
        raise UsageError("vmkit workbook: the notebooks come with the source of vmkit, not "
                         "with an installed package: clone the repository and run "
                         "pip install -e \".[lab]\" there")
    target = os.path.abspath(args.folder)
    if target == str(source) or target.startswith(str(source) + os.sep):
        raise UsageError(f"vmkit workbook: {args.folder} is inside the repository's "
                         "notebooks; choose a folder outside it")
    if os.path.exists(target) and not os.path.isdir(target):
        raise UsageError(f"vmkit workbook: {args.folder} is a file, not a folder")
    copied, kept = workbook.copy(source, target)
    print(f"vmkit workbook: copied {len(copied)} file(s) into {args.folder}" +
          (f"; kept {len(kept)} already there (your edits stay; delete a file to get a "
           "fresh copy)" if kept else ""))
    command = workbook.jupyter_command()
    shown = f"cd {shlex.quote(args.folder)} && " + " ".join(map(shlex.quote, command))
    if args.no_open:
        print(f"to open it: {shown}")
        return 0
    if find_spec("jupyterlab") is None:
        raise UsageError("vmkit workbook: JupyterLab is not installed: pip install -e "
                         "\".[lab]\" (or open the notebooks in any Jupyter)")
    print(f"opening JupyterLab: {shown}", flush=True)
    os.chdir(target)
    os.execvp(command[0], command)        # replaces this process: the core starts none


def _replace_suffix(path, suffix):
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    return stem + suffix


def _int_from(low, high=None):
    """An argparse type: an integer (0x.. too) from `low` to `high` (None: any above)."""
    def parse(text):
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0 < low:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        if not low <= value <= (value if high is None else high):
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {text}")
        return value
    return parse


def _float_from(low, high):
    """An argparse type: a finite number greater than `low`, at most `high` (no nan, inf)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
        if value <= 0 <= low:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        if not low < value <= high:
            raise argparse.ArgumentTypeError(f"must be over {low} and at most {high}, "
                                             f"not {text}")
        return value
    return parse


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is its one error line (the rule for every vmkit error)
    without the usage summary above it; exit status 2 as before."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _engines():
    from vmkit.vmm.engines import ENGINES
    return tuple(ENGINES)


def _paging_modes():
    from vmkit.vmm.engines import PAGING_MODES
    return PAGING_MODES


def _paging_lines():
    """One line per paging mode for the help texts: the engines offering it, from the
    registry (Engine.paging_mode)."""
    from vmkit.vmm.engines import PAGING_MODES, offering
    return "\n".join(f"  {mode:<8} {', '.join(offering(mode))}" for mode in PAGING_MODES)


def _cost_models():
    from vmkit.vmm.costs import PRESETS
    return tuple(PRESETS)


def _technique_lines():
    """One line per technique for the help texts, from the engine registry."""
    from vmkit.vmm.engines import ENGINES
    return "\n".join(f"  {name:<8} {engine.title}" for name, engine in ENGINES.items())


EXAMPLES = """\
examples:
  vmkit demo                              a first program, assembled and run
  vmkit run hello.s                       bare-metal, as qemu-system-riscv32 -M virt would
  vmkit run --guest tinyos --engine bt    a kernel as a guest under binary translation
  vmkit compare syscall --model p4-2006   one workload under every technique, priced
  vmkit snapshot tinyos --after 20000 -o t.vmsnap; vmkit restore t.vmsnap
                                          save a running guest, and go on from there later
  vmkit workbook                          the notebooks, in a folder of your own
"""

RUN_EXAMPLES = """\
engines (--engine, with --guest):
{techniques}

guest paging (--paging, with --guest): the engine that virtualizes it that way
{paging}

examples:
  vmkit run hello.s                           run bare-metal; exit status = the program's
  vmkit run hello.s --trace hello.log         and log every instruction (Spike's format)
  vmkit run --guest tinyos                    tinyos as a guest under hw (the default)
  vmkit run --guest syscall --engine trap --iterations 100 --stats
                                              a microbenchmark, with the VMM's counters
  vmkit run --guest kernel.s --engine pv --json --model p4-2006
                                              your own guest, one JSON row with cycles
  vmkit run --guest a=tinyos --guest b=halt:trap --guest spin:bt --max-insns 500000
                                              three guests on one host: the halting and
                                              the spinning one stop neither the host nor a
"""

COMPARE_EXAMPLES = """\
engines (--engines, default: all, or those offering --paging):
{techniques}

guest paging (--paging):
{paging}

examples:
  vmkit compare tinyos
  vmkit compare csr --iterations 200 --model p4-2006
  vmkit compare syscall --engines trap,bt,hw --json
  vmkit compare tinyos --quirk popf           Popek-Goldberg: one instruction stops trapping
"""


def _parser(sub, name, help, epilog=None, description=None):
    """A subcommand whose epilog (examples, a table) keeps its layout; the description is
    wrapped here, since the raw formatter does not wrap it."""
    return sub.add_parser(name, help=help, epilog=epilog,
                          description=textwrap.fill(description or help[0].upper() + help[1:]
                                                    + ".", 79),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _workload_options(p, when=""):
    """--iterations and --quirk, which run --guest, compare and snapshot share."""
    p.add_argument("--iterations", type=_int_from(1),
                   help=f"{when}loop count of a built-in workload")
    p.add_argument("--quirk", metavar="pushf,popf",
                   help=f"{when}Popek-Goldberg lab: make sstatus accesses from U-mode not trap")


def _memory_options(p, when=""):
    """--gstage-page and --untagged-tlb, the memory-virtualization switches of a VM."""
    p.add_argument("--gstage-page", choices=GSTAGE_PAGES,
                   help=f"{when}leaves of hw's G-stage table (default 4m); a TLB miss on a "
                   "4 KiB guest page then reads 8 PTEs (4k) or 5 (4m), against 2 natively")
    p.add_argument("--untagged-tlb", action="store_true",
                   help=f"{when}a TLB without ASID/VMID tags: flushed on every world and "
                   "address-space switch")


def _io_options(p, when=""):
    """--io and --disk: the disk workload's disk."""
    from vmkit.lab import IO_TECHNIQUES
    p.add_argument("--io", choices=tuple(IO_TECHNIQUES),
                   help=f"{when}the disk workload's disk: "
                   + "; ".join(f"{k}: {v.split(':')[0]}" for k, v in IO_TECHNIQUES.items())
                   + " (default virtio)")
    p.add_argument("--disk", metavar="FILE",
                   help=f"{when}a raw disk image (whole 512-byte sectors) the disk workload "
                   "writes to, in place (default: a blank 1 MiB disk in memory)")


def _memory(args):
    return {"tlb_tagged": not args.untagged_tlb,
            "gstage_page": GSTAGE_PAGES.get(args.gstage_page)}


def build_parser():
    parser = _Parser(prog="vmkit", description="A simulated RISC-V machine "
                                     "with the hypervisor extension, and a hypervisor with "
                                     "six virtualization techniques, in Python.",
                                     epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    engines, models = _engines(), _cost_models()
    techniques = _technique_lines()

    p = _parser(sub, "asm", "assemble GNU-as syntax into an ELF32 executable",
                "examples:\n  vmkit asm hello.s              writes hello.elf\n"
                "  vmkit asm hello.s -o a.elf\n")
    p.add_argument("source")
    p.add_argument("-o", "--output", help="output ELF (default: SOURCE with .elf)")
    p.set_defaults(func=cmd_asm)

    p = _parser(sub, "disasm", "disassemble an ELF as objdump -d does",
                "examples:\n  vmkit disasm hello.elf\n"
                "  vmkit disasm kernel.elf --priv-spec 1.12\n")
    p.add_argument("elf")
    p.add_argument("--priv-spec", choices=("1.11", "1.12"), default=None,
                   help="CSR names known to this privileged spec (default, as objdump: the "
                        "file's .riscv.attributes, else 1.12)")
    p.set_defaults(func=cmd_disasm)

    p = _parser(sub, "run", "run a program bare-metal, or a guest under the VMM",
                RUN_EXAMPLES.format(techniques=techniques, paging=_paging_lines()),
                description="Run PROG (.s is assembled first) on the simulated "
                "QEMU-virt machine, starting in M-mode. UART output goes to stdout. "
                "Exit status: the guest's (sifive_test finisher or HTIF tohost; for --guest, "
                f"SBI system reset); {STATUS_BUDGET} if --max-insns ran out; {STATUS_WAITING} "
                f"if it waits forever in wfi; {STATUS_ERROR} on an internal error.")
    p.add_argument("program", nargs="?", metavar="PROG")
    p.add_argument("--max-insns", type=_int_from(1, MAX_BUDGET), default=100_000_000,
                   help="instruction budget (default 100000000)")
    p.add_argument("--trace", metavar="FILE",
                   help="bare-metal: write a commit log (Spike --log-commits format) to FILE")
    p.add_argument("--guest", metavar="[NAME=]WORKLOAD[:ENGINE]", action="append",
                   help="run as a guest under the VMM instead (tinyos, syscall, io, csr, "
                   "callret, trapinsn; the hostile halt, spin, outside, traploop, storm; or a "
                   ".s/.elf file linked at 0x80000000), under ENGINE if given; repeat it "
                   "(or name one) to run several guests on one host")
    p.add_argument("--engine", choices=engines, metavar="ENGINE",
                   help=f"with --guest: the technique, one of {', '.join(engines)} "
                   "(default hw), for each guest that names none")
    p.add_argument("--paging", choices=_paging_modes(), metavar="MODE",
                   help="with --guest: how the guest's own paging is virtualized, one of "
                   f"{', '.join(_paging_modes())}: picks the engine offering it, or checks "
                   "--engine")
    _workload_options(p, "with --guest: ")
    _memory_options(p, "with --guest: ")
    _io_options(p, "with --guest: ")
    p.add_argument("--model", choices=models, metavar="MODEL",
                   help=f"with --guest and --stats or --json: the cost model, one of "
                   f"{', '.join(models)} (default modern)")
    p.add_argument("--stats", action="store_true", help="with --guest: print the counters")
    p.add_argument("--json", action="store_true", help="with --guest: print one JSON row")
    p.add_argument("--reference", action="store_true",
                   help="run the reference interpreter (one instruction at a time) instead of "
                   "compiled blocks; the results are identical")
    p.set_defaults(func=cmd_run)

    p = _parser(sub, "compare", "run a workload under every technique, side by side",
                COMPARE_EXAMPLES.format(techniques=techniques, paging=_paging_lines()))
    p.add_argument("workload", metavar="WORKLOAD|FILE")
    p.add_argument("--engines", metavar="E1,E2,...",
                   help=f"comma-separated engines (default: all: {','.join(engines)})")
    p.add_argument("--paging", choices=_paging_modes(), metavar="MODE",
                   help=f"only the engines virtualizing guest paging by MODE, one of "
                   f"{', '.join(_paging_modes())} (with --engines: checks each)")
    _workload_options(p)
    _memory_options(p)
    _io_options(p)
    p.add_argument("--model", choices=models, default="modern", metavar="MODEL",
                   help=f"cost model, one of {', '.join(models)} (default modern)")
    p.add_argument("--max-insns", type=_int_from(1, MAX_BUDGET), default=50_000_000,
                   help="instruction budget per engine")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--reference", action="store_true",
                   help="run the reference interpreter (one instruction at a time) instead of "
                   "compiled blocks; the results are identical")
    p.set_defaults(func=cmd_compare)

    p = _parser(sub, "snapshot", "run a guest N instructions, then save the whole VM to a file",
                "examples:\n  vmkit snapshot tinyos --after 20000 -o tinyos.vmsnap\n"
                "  vmkit snapshot syscall --engine bt --after 500 -o s.vmsnap --reference\n",
                description="Run a workload as a guest under the VMM for --after guest "
                "instructions (its console output goes to stdout), then save the whole VM "
                "(CPU, RAM, devices, guest time) to FILE; `vmkit restore FILE` goes on from "
                "there. Exit status 2 when FILE cannot be written.")
    p.add_argument("guest", metavar="WORKLOAD|FILE")
    p.add_argument("--after", type=_int_from(1, MAX_BUDGET), required=True, metavar="N",
                   help="guest instructions to run before saving")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the snapshot file to write")
    p.add_argument("--engine", choices=engines, metavar="ENGINE",
                   help=f"the technique, one of {', '.join(engines)} (default hw)")
    _workload_options(p)
    p.add_argument("--reference", action="store_true",
                   help="run the reference interpreter instead of compiled blocks (the "
                   "snapshot remembers it)")
    p.set_defaults(func=cmd_snapshot)

    p = _parser(sub, "restore", "go on from a snapshot, printing the guest's console",
                "examples:\n  vmkit restore tinyos.vmsnap\n"
                "  vmkit restore tinyos.vmsnap --max-insns 5000\n",
                description="Restore the VM saved in FILE by `vmkit snapshot` (same engine, "
                "RAM and settings) and run it on; what the guest prints from there on goes to "
                "stdout. Exit status: the guest's (SBI system reset); "
                f"{STATUS_BUDGET} if --max-insns ran out; {STATUS_ERROR} if it stopped "
                "otherwise; 2 if FILE is not a snapshot this vmkit can load (truncated, "
                "corrupted, another program's, a newer format).")
    p.add_argument("snapshot", metavar="FILE")
    p.add_argument("--max-insns", "--max-instructions", dest="max_insns",
                   type=_int_from(1, MAX_BUDGET), default=100_000_000, metavar="M",
                   help="guest instruction budget (default 100000000)")
    p.set_defaults(func=cmd_restore)

    p = _parser(sub, "bench", "measure the simulator's speed (guest MIPS) and memory",
                "examples:\n  vmkit bench\n  vmkit bench --repeat 1 --scale 0.1 --json\n")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--repeat", type=_int_from(1, MAX_REPEAT), default=5,
                   help="runs per row; the median is reported (default 5)")
    p.add_argument("--scale", type=_float_from(0, MAX_SCALE), default=1.0,
                   help="multiply every workload's length (default 1.0)")
    p.set_defaults(func=cmd_bench)

    p = _parser(sub, "demo", "assemble, disassemble and run a small program")
    p.set_defaults(func=cmd_demo)

    p = _parser(sub, "workbook", "copy the notebooks into a folder of your own and open "
                "JupyterLab there",
                "examples:\n  vmkit workbook                  ./vmkit-workbook\n"
                "  vmkit workbook ~/vm-course\n"
                "  vmkit workbook --no-open        copy only; print the command that opens it\n",
                description="Copy the lecture notebooks and the homework into DIR, then open "
                "JupyterLab there, so that your work never changes the repository. A file "
                "already in DIR is never overwritten (it may hold your answers): running it "
                "again copies only what is missing.")
    p.add_argument("folder", nargs="?", default="vmkit-workbook", metavar="DIR",
                   help="the working folder (default: ./vmkit-workbook)")
    p.add_argument("--no-open", action="store_true",
                   help="copy only, and print the command that opens JupyterLab")
    p.set_defaults(func=cmd_workbook)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OptionError, SnapshotFileError) as error:
        print(error, file=sys.stderr)
        return 2
    except UsageError as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
