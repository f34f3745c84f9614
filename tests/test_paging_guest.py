"""The paging guest: vmkit/guest/pgkernel.inc (tinyos with Sv32 paging) and the memory
microbenchmarks on it (pagefault, ptemod, ctxswitch, forkwait; Adams & Agesen, ASPLOS 2006).

`tests/programs/guests/pgkernel_test.s` checks the kernel from user mode (read its header):
demand-zero pages, fork's copy, wait4, bad accesses killing only the task, exit freeing every
frame, bad arguments. Its console is compared whole, under every engine that runs guest
paging (those whose class names a `paging_mode`: native, emulate, hw, trap and bt with shadow
paging; both execution paths) and under QEMU behind a few lines of M-mode firmware. pv runs the
PV build (direct paging): tests/test_pv_paging.py.
"""

import subprocess
from importlib import resources

import pytest

import corpus
from conftest import need_tool
from vmkit.asm import assemble_file
from vmkit.guest import INCLUDES, PAGING, WORKLOADS, build, source
from vmkit.vmm.engines import ENGINES as ALL_ENGINES, engine_class
from vmkit.vmm.vm import VirtualMachine

# The engines that run a guest's own paging, and those that refuse it for now (the PV build,
# for pv, is tested on its own below). Read from the engines (trap and bt: shadow paging).
ENGINES = tuple(e for e in ALL_ENGINES
                if engine_class(e).paging_mode and not engine_class(e).needs_pv_build)
REFUSING = tuple(e for e in ALL_ENGINES
                 if not engine_class(e).paging_mode and not engine_class(e).needs_pv_build)
KERNEL_TEST = corpus.PROGRAM_DIR / "guests" / "pgkernel_test.s"
KERNEL_TEST_OUTPUT = (
    b"demand-zero: fresh pages read zero\n"
    b"fork: the child sees the parent's 1234\n"
    b"fork: the child's write stayed in the child; wait4: its pid, status 7\n"
    b"kernel: pid 3 killed: scause 0x0000000d stval 0x00000000\n"      # load page fault, NULL
    b"a bad access killed only the child; wait4: status 11\n"
    b"kernel: pid 4 killed: scause 0x0000000f stval 0x00001000\n"      # store, USER_TEXT
    b"a bad access killed only the child; wait4: status 11\n"
    b"forks: every child's memory came back\n"
    b"brk, mprotect, write: bad arguments refused\n"
    b"pgkernel: 100 iterations done\n")
RAM_END = 0x8040_0000            # the kernel owns the 4 MiB from 0x8000_0000


def run(program, engine, fast=True):
    vm = VirtualMachine(program, engine=engine, fast=fast)
    stop = vm.run(50_000_000)
    state = vm.engine.guest_state()
    return vm, stop, (bytes(vm.console), vm.counters.guest_instructions, state["x"],
                      state["pc"], tuple(sorted(state["csrs"].items())))


def test_the_benchmarks_are_workloads():
    assert {"native", "emulate", "hw"} <= set(ENGINES)
    assert set(PAGING) <= set(WORKLOADS)
    assert set(PAGING) == {"pagefault", "ptemod", "ctxswitch", "forkwait"}


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name", PAGING)
def test_benchmark_same_under_every_paging_engine(name, fast):
    results = {}
    for engine in ENGINES:
        vm, stop, results[engine] = run(build(name, iterations=5), engine, fast)
        assert (stop.reason, stop.code) == ("shutdown", 0), (engine, stop, bytes(vm.console))
    assert results["native"][0] == f"{name}: 5 iterations done\n".encode()
    # Output, guest instructions, final registers and supervisor CSRs (satp among them):
    # the technique must not show through.
    for engine in ENGINES:
        assert results[engine] == results["native"], engine


# Per 10 more iterations, what the hart counts (its own counters: traps taken, TLB flushes),
# read off the sources:
#   pagefault  one page fault per page; a fence per fault and per page brk gives back
#   ptemod     one ecall (mprotect) and one fence (sfence.vma page, ASID) per iteration
#   ctxswitch  two yields per iteration; no fence at all: each address space has its ASID
#   forkwait   clone, exit, wait4; one fence per exit (its ASID, before reuse)
PER_TEN = {"pagefault": (10, 20), "ptemod": (10, 10), "ctxswitch": (20, 0),
           "forkwait": (30, 10)}


@pytest.mark.parametrize("name", PAGING)
def test_traps_and_fences_per_iteration(name):
    counts = []
    for n in (10, 20):
        vm, stop, _ = run(build(name, iterations=n), "native")
        assert stop.reason == "shutdown"
        counts.append((vm.engine.cpu.traps, vm.engine.cpu.mmu.tlb.flushes))
    assert (counts[1][0] - counts[0][0], counts[1][1] - counts[0][1]) == PER_TEN[name]


def test_ctxswitch_walks_nothing_once_warm():
    """ASID-tagged TLB: switching back and forth keeps both address spaces' entries."""
    walks = []
    for n in (10, 40):
        vm, _, _ = run(build("ctxswitch", iterations=n), "native")
        walks.append(vm.engine.cpu.mmu.walks)
    assert walks[0] == walks[1] > 0


def test_pagefault_any_count_fits_in_ram():
    # 300 pages = 1.2 MiB touched, in rounds of 64 given back: the frames are reused.
    vm, stop, _ = run(build("pagefault", iterations=300), "native")
    assert (stop.reason, bytes(vm.console)) == ("shutdown", b"pagefault: 300 iterations done\n")


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_kernel_checks_itself_under_every_paging_engine(fast):
    program = assemble_file(KERNEL_TEST)
    frames = (RAM_END - program.symbols["frames_start"]) // 4096
    results = {}
    for engine in ENGINES:
        vm, stop, results[engine] = run(program, engine, fast)
        assert (stop.reason, stop.code) == ("shutdown", 0), (engine, stop)
        assert bytes(vm.console) == KERNEL_TEST_OUTPUT, engine
        # Every task has exited: every frame is back on the free list.
        free = int.from_bytes(vm.read_guest(program.symbols["free_frames"], 4), "little")
        assert free == frames > 900, engine
    for engine in ENGINES:
        assert results[engine] == results["native"], engine


def test_forks_run_out_without_free():
    """The fork loop really needs exit's freeing: with kfree a no-op it runs out of frames."""
    program = assemble_file(KERNEL_TEST)
    kfree = program.symbols["kfree"]
    vm = VirtualMachine(program, engine="native")
    vm.write_guest(kfree, (0x00008067).to_bytes(4, "little"))     # ret
    stop = vm.run(50_000_000)
    assert stop.reason == "shutdown"
    assert b"forks: out of memory: FAILED\n" in bytes(vm.console)


if REFUSING:                     # (no case to run once every engine pages)
    @pytest.mark.parametrize("engine", REFUSING)
    @pytest.mark.parametrize("name", PAGING)
    def test_engines_without_guest_paging_refuse_cleanly(name, engine):
        vm, stop, _ = run(build(name, iterations=2), engine)
        assert stop.reason == "error"
        assert "does not yet virtualize guest paging" in stop.message
        assert bytes(vm.console) == b""


def test_pv_build_never_writes_a_page_table_itself():
    """Under PV no store in mmu.inc's macros or the kernel hits a page-table frame: the
    PV kernel's text has no `csrw satp`, `sfence.vma`, and pte_write is a hypercall."""
    from vmkit.isa import decode
    for pv, expect in ((False, True), (True, False)):
        program = build("forkwait", pv=pv)
        text = program.section(".text")
        names = set()
        for offset in range(0, len(text.data), 4):
            row, operands = decode(int.from_bytes(text.data[offset:offset + 4], "little"),
                                   aliases=False)
            if row is not None:
                names.add(row.name)
                if row.name.startswith("csr") and operands["E"] == 0x180:
                    names.add("satp")
        assert ("sfence.vma" in names) == expect and ("satp" in names) == expect


def test_sources_and_includes_are_package_data():
    folder = resources.files("vmkit.guest")
    for include in INCLUDES:
        assert folder.joinpath(include).is_file()
    for name in PAGING:
        assert '.include "pgkernel.inc"' in source(name)


# -- the same kernel on QEMU -------------------------------------------------------------------
def qemu_output(text, tmp_path, virt=0):
    """Assemble kernel source `text` with GNU as at KERNEL_BASE, run it on QEMU behind
    corpus.KERNEL_FIRMWARE (in VS-mode with `virt`); (console, exit status)."""
    for tool in (corpus.AS, corpus.LD, corpus.QEMU, "riscv64-unknown-elf-objcopy"):
        need_tool(tool)
    folder = resources.files("vmkit.guest")
    for include in INCLUDES:
        (tmp_path / include).write_text(folder.joinpath(include).read_text())
    (tmp_path / "kernel.s").write_text(text)
    steps = [[corpus.AS, "-march=rv32ima_zicsr", "-mabi=ilp32", "-mno-relax", "-I",
              str(tmp_path), str(tmp_path / "kernel.s"), "-o", str(tmp_path / "kernel.o")],
             [corpus.LD, "-m", "elf32lriscv", "--no-relax", "--no-warn-rwx-segments",
              f"-Ttext={corpus.KERNEL_BASE:#x}", str(tmp_path / "kernel.o"), "-o",
              str(tmp_path / "kernel.elf")]]
    for step in steps:
        subprocess.run(step, check=True, capture_output=True)
    return corpus.run_kernel_on_qemu(tmp_path / "kernel.elf", tmp_path, virt)


@pytest.mark.parametrize("virt", [0, 1], ids=["S-under-firmware", "VS-under-hypervisor"])
def test_kernel_checks_itself_on_qemu(virt, tmp_path):
    assert qemu_output(KERNEL_TEST.read_text(), tmp_path, virt) == (KERNEL_TEST_OUTPUT, 0)


@pytest.mark.parametrize("name", PAGING)
def test_benchmark_same_on_qemu(name, tmp_path):
    vm, _, _ = run(build(name, iterations=7), "native")
    output = qemu_output(".equ ITERATIONS, 7\n" + source(name), tmp_path)
    assert output == (bytes(vm.console), 0) == (f"{name}: 7 iterations done\n".encode(), 0)
