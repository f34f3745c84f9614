"""The guest software in vmkit/guest/: the tinyos teaching kernel and the microbenchmarks.

Expected values come from reading the guest sources (reasoning in the comments), from the
RISC-V specs, or from GNU as + ld (the sources must assemble to the same bytes).
"""

import re
import subprocess
from importlib import resources

import pytest

import vmkit.vmm.engines

from conftest import need_tool
from vmkit.asm import assemble
from vmkit.guest import INCLUDES, IO_WORKLOADS, PAGING, WORKLOADS, build, source
from vmkit.isa import BY_NAME, decode
from vmkit.vmm.vm import VirtualMachine

ENGINES = ("native", "hw")
ALL_ENGINES = tuple(vmkit.vmm.engines.ENGINES)
MICRO = ("syscall", "io", "csr", "callret", "trapinsn")


def run(name, engine, **options):
    vm = VirtualMachine(build(name, **options), engine=engine)
    stop = vm.run(2_000_000)
    return vm, stop


# -- every workload, every engine ---------------------------------------------------------------

@pytest.mark.parametrize("console_sbi", [False, True], ids=["uart", "sbi"])
@pytest.mark.parametrize("name", WORKLOADS)
def test_clean_shutdown_and_same_result_on_every_engine(name, console_sbi):
    results = {}
    for engine in ALL_ENGINES:
        if name in PAGING and not vmkit.vmm.engines.engine_class(engine).paging_mode:
            continue                       # it refuses: tests/test_paging_guest.py
        vm, stop = run(name, engine, console_sbi=console_sbi)
        assert (stop.reason, stop.code) == ("shutdown", 0), (engine, stop, bytes(vm.console))
        state = vm.engine.guest_state()
        results[engine] = (bytes(vm.console), vm.counters.guest_instructions,
                           vm.counters.interrupts_injected, state["x"], state["pc"],
                           tuple(sorted(state["csrs"].items())))
    # Guest time counts guest instructions, so even the timer interrupts of tinyos land on
    # the same instruction: output, instruction count and the final guest-visible state
    # (registers, pc, supervisor CSRs) must not depend on the technique (transparency).
    for engine in results:
        assert results[engine] == results["native"], engine


@pytest.mark.parametrize("name", MICRO)
def test_micro_prints_its_line(name):
    # micro.inc prints "<bench_name>: <ITERATIONS> iterations done"; the default N is 100.
    vm, _ = run(name, "native")
    assert bytes(vm.console) == f"{name}: 100 iterations done\n".encode()
    vm, _ = run(name, "hw", iterations=7, console_sbi=True)
    assert bytes(vm.console) == f"{name}: 7 iterations done\n".encode()


# Guest instructions one loop iteration retires, read off the sources. A trapping instruction
# (ecall, the illegal word) does not retire (privileged spec 3.3.1 / unprivileged spec, Zicntr):
#   syscall:  U: addi, bnez; handler: csrw, csrr, addi, bnez, li, beq, csrr, addi, csrw, csrr,
#             sret (li SYS_EXIT = 93 is one addi)                                   = 13
#   io:       lbu (the VMM completes it under hw and counts it), addi, bnez          = 3
#   csr:      csrci, csrsi, addi, bnez                                                = 4
#   callret:  call (auipc + jalr), ret, addi, bnez                                    = 5
#   trapinsn: addi, bnez; handler: csrw, csrr, addi, bnez, csrr, addi, csrw, csrr, sret = 11
PER_ITERATION = {"syscall": 13, "io": 3, "csr": 4, "callret": 5, "trapinsn": 11}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", MICRO)
def test_micro_instructions_per_iteration(name, engine):
    # N = 10 and N = 50 print lines of the same length, so only the loop makes the difference.
    small, _ = run(name, engine, iterations=10)
    large, _ = run(name, engine, iterations=50)
    grown = large.counters.guest_instructions - small.counters.guest_instructions
    assert grown == 40 * PER_ITERATION[name]


# -- exits: what the hardware does for the guest, what needs the VMM -------------------------------

def exits(name, engine, n):
    vm, stop = run(name, engine, iterations=n)
    assert stop.reason == "shutdown"
    return dict(vm.counters.exits), len(vm.console)


@pytest.mark.parametrize("name", ["syscall", "csr", "callret", "trapinsn"])
def test_hw_no_exit_per_iteration(name):
    # Under hw, ecall from VU (cause 8) and illegal instruction (cause 2) are delegated to the
    # guest by hedeleg, and sstatus is the hardware's vsstatus: no iteration exits. The exits
    # left are the console's (UART: one LSR read + one THR write per byte, both MMIO) and
    # the one SRST call.
    for n in (10, 50):
        counts, printed = exits(name, "hw", n)
        assert counts == {"mmio": 2 * printed, "sbi": 1}


def test_hw_io_exits_once_per_iteration():
    # Each LSR read is an MMIO access the VMM emulates: one exit per iteration on top of the
    # console's two per byte.
    small, printed_small = exits("io", "hw", 10)
    large, printed_large = exits("io", "hw", 50)
    assert printed_small == printed_large == len("io: 10 iterations done\n")
    assert large["mmio"] - small["mmio"] == 40
    assert small == {"mmio": 2 * printed_small + 10, "sbi": 1}


@pytest.mark.parametrize("name", MICRO)
def test_native_only_the_shutdown_exits(name):
    # native: the UART is the host's, reached directly; only the SRST ecall reaches the VMM.
    counts, _ = exits(name, "native", 50)
    assert counts == {"sbi": 1}


# -- tinyos -------------------------------------------------------------------------------------

TASK_LINE = re.compile(r"task ([AB]): i=(\d+) pid=(\d+)$")
RUN_LINE = re.compile(r"kernel: (timer interrupt|yield), run pid (\d+)$")
EXIT_LINE = re.compile(r"kernel: pid (\d+) exited$")
SUMMARY = re.compile(r"kernel: all tasks exited after (\d+) timer interrupts$")


def replay(output):
    """Follow tinyos's output; check that every line fits the task the kernel said it runs.

    Returns ({task: [i, ...]}, timer interrupts that switched to another task, timer lines).
    """
    lines = output.splitlines()
    assert lines[0] == "tinyos: booting, two tasks"
    running, seen, switches, timers, alive = 1, {"A": [], "B": []}, 0, 0, {1, 2}
    for line in lines[1:-1]:
        if m := TASK_LINE.match(line):
            task, i, pid = m[1], int(m[2]), int(m[3])
            assert pid == {"A": 1, "B": 2}[task] == running, line    # getpid is right
            seen[task].append(i)
        elif m := RUN_LINE.match(line):
            pid = int(m[2])
            assert pid in alive, line
            if m[1] == "timer interrupt":
                timers += 1
                switches += pid != running
            running = pid
        elif m := EXIT_LINE.match(line):
            assert int(m[1]) == running, line
            alive.remove(running)
        else:
            pytest.fail(f"unexpected line {line!r}")
    assert not alive
    summary = SUMMARY.match(lines[-1])
    assert summary and int(summary[1]) == timers
    return seen, switches, timers


@pytest.mark.parametrize("console_sbi", [False, True], ids=["uart", "sbi"])
def test_tinyos_tasks_interleave_with_preemption(console_sbi):
    vm, stop = run("tinyos", "native", console_sbi=console_sbi)
    assert (stop.reason, stop.code) == ("shutdown", 0)
    seen, switches, timers = replay(vm.console.decode())
    # Task A prints ITERATIONS = 5 lines, task B 5 + 2 (tinyos.s), in order.
    assert seen == {"A": list(range(5)), "B": list(range(7))}
    # Each line is followed by WORK = 1000 two-instruction trips, so the tasks need at least
    # 12 * 2000 = 24000 guest instructions: with a timer every 3000 that is 8 interrupts or
    # more, and while both tasks live (A alone needs 10000) at least 3 of them must switch.
    assert timers >= 8 and switches >= 3
    order = [line[5] for line in vm.console.decode().splitlines() if line.startswith("task")]
    assert order.index("B") < len(order) - 1 - order[::-1].index("A")   # interleaved


def test_tinyos_iterations_option():
    vm, stop = run("tinyos", "hw", iterations=1)
    assert (stop.reason, stop.code) == ("shutdown", 0)
    seen, _, _ = replay(vm.console.decode())
    assert seen == {"A": [0], "B": [0, 1, 2]}


def test_tinyos_reports_an_unexpected_trap():
    # Make task_main's first instruction the all-zero word (illegal): the kernel must report
    # cause 2 with sepc = task_main and stval = 0 (the instruction bits) and fail.
    program = assemble(source("tinyos").replace("task_main:\n", "task_main:\n .word 0\n", 1))
    address = program.symbols["task_main"]
    for engine in ENGINES:
        vm = VirtualMachine(program, engine=engine)
        stop = vm.run(200_000)
        assert (stop.reason, stop.code) == ("shutdown", 1)
        assert vm.console.decode().endswith(
            f"kernel: unexpected trap scause=0x00000002 sepc={address:#010x} "
            f"stval=0x00000000\n")


def test_tinyos_write_rejects_a_buffer_outside_ram():
    # Task code that first calls write(1, 0x10000000, 6): the UART's address, not RAM, so the
    # kernel must answer -EFAULT (-14) without printing. On any other answer the task jumps
    # straight to exit and prints none of its lines.
    text = source("tinyos").replace(
        "task_main:\n",
        "task_main:\n        mv s0, a0\n        mv s1, a1\n        li a0, 1\n        li a1, 0x10000000\n        li a2, 6\n"
        "        li a7, 64\n        ecall\n        li t0, -14\n        bne a0, t0, 9f\n"
        "        mv a0, s0\n        mv a1, s1\n", 1)
    text = text.replace("        li      a0, 0                      # exit(0)\n",
                        "9:      li      a0, 0                      # exit(0)\n", 1)
    vm = VirtualMachine(assemble(text, "tinyos.s"), engine="native")
    stop = vm.run(2_000_000)
    assert (stop.reason, stop.code) == ("shutdown", 0)
    seen, _, _ = replay(vm.console.decode())          # also: no stray bytes were printed
    assert seen == {"A": list(range(5)), "B": list(range(7))}


# -- the registry ---------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: build("nope"), "unknown workload 'nope'; choose one of tinyos, syscall, io, csr, "
                            "callret, trapinsn"),
    (lambda: source("tinyos.s"), "unknown workload 'tinyos.s'"),
    (lambda: build("io", iterations=0), "iterations must be an integer"),
    (lambda: build("io", iterations=1 << 31), "iterations must be an integer"),
    (lambda: build("io", iterations="5"), "iterations must be an integer"),
])
def test_bad_requests(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_sources_are_package_data():
    folder = resources.files("vmkit.guest")
    for name in WORKLOADS + IO_WORKLOADS:
        assert source(name) == folder.joinpath(f"{name}.s").read_text(encoding="utf-8")


def test_privileged_instructions_only_through_priv_inc():
    # The pv build will replace priv.inc's macros, so no other line may write a privileged
    # instruction itself. Find every instruction touching a supervisor CSR (number bits
    # 9:8 = 01, privileged spec 2.1) or sret/wfi/sfence.vma in the assembled programs, and
    # check that its source line is a macro use, not the instruction's own mnemonic.
    for name in WORKLOADS + IO_WORKLOADS:
        program = build(name)
        files = {}
        text = program.section(".text")
        for address in range(text.address, text.address + len(text.data), 4):
            word = int.from_bytes(text.data[address - text.address:address - text.address + 4],
                                  "little")
            row, operands = decode(word, aliases=False)
            if row is None:
                continue
            supervisor_csr = row.name.startswith("csr") and operands["E"] >> 8 & 3 == 1
            if not (supervisor_csr or row.name in ("sret", "wfi", "sfence.vma")):
                continue
            file, line = program.line_map[address]
            if file not in files:
                files[file] = (source(name) if file == f"{name}.s"
                               else resources.files("vmkit.guest").joinpath(file).read_text())
            statement = files[file].splitlines()[line - 1].split("#")[0]
            mnemonic = re.match(r"\s*(?:\w+:\s*)*(\S+)", statement)[1]
            assert mnemonic not in BY_NAME, f"{file}:{line}: {row.name} outside priv.inc"


# -- GNU binutils agree -------------------------------------------------------------------------

@pytest.mark.parametrize("console_sbi", [False, True], ids=["uart", "sbi"])
@pytest.mark.parametrize("name", WORKLOADS + IO_WORKLOADS)
def test_gnu_as_builds_the_same_bytes(name, console_sbi, tmp_path):
    """GNU as + ld, given vmkit's section addresses, produce the same section bytes."""
    gas, ld = need_tool("riscv64-unknown-elf-as"), need_tool("riscv64-unknown-elf-ld")
    objcopy = need_tool("riscv64-unknown-elf-objcopy")
    program = build(name, console_sbi=console_sbi)
    folder = resources.files("vmkit.guest")
    for include in INCLUDES:
        (tmp_path / include).write_text(folder.joinpath(include).read_text())
    prefix = ".equ CONSOLE_SBI, 1\n" if console_sbi else ""
    (tmp_path / "guest.s").write_text(prefix + source(name))
    # -mno-relax / --no-relax: ld must not shorten `call` to `jal` as vmkit never does.
    subprocess.run([gas, "-march=rv32ima_zicsr", "-mabi=ilp32", "-mno-relax", "-I",
                    str(tmp_path), "-o", str(tmp_path / "guest.o"), str(tmp_path / "guest.s")],
                   check=True, capture_output=True)
    addresses = {s.name: s.address for s in program.sections}
    command = [ld, "-m", "elf32lriscv", "--no-relax", "--no-warn-rwx-segments",
               "-Ttext", hex(addresses[".text"]), "-Tdata", hex(addresses[".data"]),
               "-Tbss", hex(program.bss[0]), "-o", str(tmp_path / "guest.elf"),
               str(tmp_path / "guest.o")]
    subprocess.run(command, check=True, capture_output=True)
    for section in program.sections:
        out = tmp_path / f"{section.name[1:]}.bin"
        subprocess.run([objcopy, "-O", "binary", "-j", section.name, str(tmp_path / "guest.elf"),
                        str(out)], check=True, capture_output=True)
        assert out.read_bytes() == bytes(section.data), section.name
