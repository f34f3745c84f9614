"""Hostile input to the assembler, the ELF loader and the command line (issue 12, item 6).

Each case once gave a traceback, a hang or a memory blow-up. Now each is one clear error,
reached quickly, and (where memory was the problem) before anything big is allocated: the
memory cases run in a fresh interpreter and compare its peak RSS before and after.
"""

import json
import os
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import IN_PYODIDE, no_pyodide
from vmkit.asm import AsmError, assemble, assemble_file
from vmkit.elf import ElfError, read_elf

# A child process imports the vmkit this test imported, wherever it is run from.
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
QUICK = 10          # seconds: every refusal here takes well under one
MB = 1 << 20


def refused(source, match, **kwargs):
    """Assembling `source` fails quickly with a located AsmError matching `match`."""
    start = time.perf_counter()
    with pytest.raises(AsmError, match=match) as info:
        assemble(source, "t.s", **kwargs)
    assert time.perf_counter() - start < QUICK
    assert all(line.startswith("t.s:") for line in info.value.diagnostics)
    return info.value


def fresh_python(code, timeout=60):
    """Run `code` in a new interpreter; it defines `attempt()`. Returns (printed result,
    growth of peak RSS in bytes while attempt() ran)."""
    wrapper = "\n".join([
        "import json, resource",
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024",
        textwrap.dedent(code),
        "before = peak()",
        "result = attempt()",
        "print(json.dumps([result, peak() - before]))"])
    done = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True,
                          timeout=timeout, env=_ENV)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


# ---- the assembler: expressions ---------------------------------------------------------

@pytest.mark.parametrize("expression", ["(" * 500 + "1" + ")" * 500, "-" * 5000 + "1",
                                        "~(" * 300 + "1" + ")" * 300])
def test_deeply_nested_expression_is_an_error_not_a_recursion_error(expression):
    refused(f"li a0, {expression}", r"t\.s:1:\d+: expression nested deeper than 100")


def test_long_operator_chain_on_a_label_is_an_error():
    # Folded constants stay flat; a label keeps the chain as a tree as deep as it is long.
    refused(".word x" + " + 1" * 5000 + "\nx: nop", r"t\.s:1:\d+: expression nested deeper")


def test_ordinary_nesting_still_assembles():
    program = assemble("li a0, " + "(" * 40 + "1 + 2" + ")" * 40 + "\n.word x" + " + 1" * 50 +
                       "\nx: nop")
    assert program.symbols["x"] == 0x8000_0008
    assert program.section(".text").data[4:8] == (0x8000_0008 + 50).to_bytes(4, "little")


def test_numbers_too_long_for_int_are_an_asm_error():
    refused("li a0, " + "9" * 5000, r"t\.s:1:8: number 9{20}\.\.\. does not fit in 64 bits")
    assert assemble("li a0, 0x" + "0" * 100 + "7").section(".text").data[:4] == \
        assemble("li a0, 7").section(".text").data[:4]


def test_numeric_labels_of_any_length():
    long = "9" * 5000
    program = assemble(f"{long}: nop\nj {long}b\nj 007f\n7: nop")
    assert program.section(".text").data[4:8] == bytes.fromhex("6ff0dfff")    # j -4
    assert program.section(".text").data[8:12] == bytes.fromhex("6f004000")   # j +4


def test_a_huge_word_gives_a_short_message():
    error = refused("x" * (4 << 20), r"t\.s:1:1: unknown instruction 'xxx")
    assert len(str(error)) < 400 and str(error).endswith("...")


# ---- the assembler: .set chains ---------------------------------------------------------

def test_long_set_chain_is_an_error_not_a_recursion_error():
    chain = "".join(f"a{i} = a{i + 1} + 1\n" for i in range(5000))
    refused(chain + ".word a0\na5000: nop", r"symbol 'a\d+' is defined through more than 300")


def test_short_set_chain_still_works():
    chain = "".join(f"a{i} = a{i + 1} + 4\n" for i in range(50))
    program = assemble(chain + ".word a0\na50: nop")
    assert program.section(".text").data[:4] == (0x8000_0004 + 200).to_bytes(4, "little")


def test_self_referential_set_is_an_error():
    refused(".set a, b + 1\n.set b, a + 1\n.word a", r"defined in terms of itself")


def test_set_symbols_used_many_times_are_evaluated_once():
    # Each level uses the next one three times: 3**30 evaluations without memoization.
    chain = "".join(f"a{i} = a{i + 1} + a{i + 1} - a{i + 1}\n" for i in range(30))
    start = time.perf_counter()
    program = assemble(chain + ".word a0\na30: nop")
    assert time.perf_counter() - start < QUICK
    assert program.section(".text").data[:4] == (0x8000_0004).to_bytes(4, "little")


# ---- the assembler: macros and .rept --------------------------------------------------

def macro_bomb(levels, uses=2):
    """m0 is one nop; each m<i> uses m<i-1> `uses` times: uses**levels lines."""
    return ".macro m0\n nop\n.endm\n" + "".join(
        f".macro m{i}\n" + f" m{i - 1}\n" * uses + ".endm\n" for i in range(1, levels + 1)) \
        + f"m{levels}\n"


def test_macro_bomb_stops_at_the_expansion_limit():
    refused(macro_bomb(24), r"more than 250000 lines after \.include, macro and \.rept")


def test_a_twelve_level_macro_tree_still_assembles():
    assert len(assemble(macro_bomb(12)).section(".text").data) == 4 << 12


def test_growing_macro_arguments_stop_at_the_substitution_limit():
    # Each level doubles its argument: 16 << 30 characters on the last line.
    source = '.macro m0 a\n .ascii "\\a"\n.endm\n' + "".join(
        f".macro m{i} a\n m{i - 1} \\a\\a\n.endm\n" for i in range(1, 31)) + "m30 " + "x" * 16
    refused(source, r"arguments add more than 16 MiB of text")


def test_nested_rept_stops_before_its_product_is_built():
    refused(".rept 1000\n.rept 1000\n.rept 1000\nnop\n.endr\n.endr\n.endr",
            r"more than 250000 lines")


def test_irp_over_too_many_values_is_refused():
    values = ",".join(["1"] * 200_000)
    refused(f".irp x, {values}\n.byte \\x\n.byte \\x\n.endr", r"more than 250000 lines")


def test_too_many_included_lines_are_refused():
    refused('.include "big.s"\n' * 3, r"t\.s:3:\d+: more than 250000 lines",
            include={"big.s": "nop\n" * 100_000})


@no_pyodide
def test_macro_bomb_memory_stays_small():
    result, growth = fresh_python(f"""
        from vmkit.asm import AsmError, assemble
        def attempt():
            try:
                assemble({macro_bomb(30)!r})
            except AsmError as e:
                return str(e)
    """)
    assert "more than 250000 lines" in result
    assert growth < 100 * MB


# ---- the assembler: files -------------------------------------------------------------

@pytest.mark.skipif(IN_PYODIDE, reason="Pyodide's in-memory file system has no /dev/zero")
def test_include_of_dev_zero_is_refused(tmp_path):
    source = tmp_path / "main.s"
    source.write_text('nop\n.include "/dev/zero"\n')
    start = time.perf_counter()
    with pytest.raises(AsmError, match=r"main\.s:2:10: cannot include '/dev/zero': not a "
                                       r"regular file"):
        assemble_file(source)
    assert time.perf_counter() - start < QUICK


def test_include_of_a_directory_and_a_huge_file_are_refused(tmp_path):
    (tmp_path / "folder.s").mkdir()
    with open(tmp_path / "huge.s", "wb") as f:
        f.truncate(5 * MB)                      # sparse: costs no disk
    source = tmp_path / "main.s"
    source.write_text('.include "folder.s"\n.include "huge.s"\n')
    with pytest.raises(AsmError) as info:
        assemble_file(source)
    first, second = info.value.diagnostics
    assert first.endswith("cannot include 'folder.s': not a regular file (a directory)")
    assert second.endswith(f"cannot include 'huge.s': file is {5 * MB} bytes, over the "
                           "4 MiB limit")


def test_source_that_is_not_a_regular_file_is_refused(tmp_path):
    with pytest.raises(AsmError, match=r"1:1: not a regular file \(a directory\)"):
        assemble_file(tmp_path)


@no_pyodide
def test_fifo_include_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "pipe.s")
    (tmp_path / "main.s").write_text('.include "pipe.s"\n')
    result, _ = fresh_python(f"""
        from vmkit.asm import AsmError, assemble_file
        def attempt():
            try:
                assemble_file({str(tmp_path / "main.s")!r})
            except AsmError as e:
                return str(e)
    """, timeout=30)
    assert result.endswith("main.s:1:10: cannot include 'pipe.s': not a regular file (a FIFO)")


# ---- the ELF loader ---------------------------------------------------------------------

def patched_elf(*changes, source="_start: j _start\n.data\n.word 1\n"):
    """A small valid executable (4.5 KB; two PT_LOAD segments, code and data) with program
    header fields changed: each change is (segment index, field index in Elf32_Phdr, value)."""
    data = bytearray(assemble(source).to_elf())
    phoff, = struct.unpack_from("<I", data, 28)
    for segment, field, value in changes:
        struct.pack_into("<I", data, phoff + 32 * segment + 4 * field, value)
    return bytes(data)


P_OFFSET, P_VADDR, P_PADDR, P_FILESZ, P_MEMSZ = 1, 2, 3, 4, 5


def test_segment_larger_than_guest_ram_is_refused():
    with pytest.raises(ElfError, match=r"x\.elf: segment at 0x80000000: memory size "
                                       r"1073741824 is over the 16 MiB of guest RAM"):
        read_elf(patched_elf((0, P_MEMSZ, 1 << 30)), "x.elf")


def test_segments_together_larger_than_guest_ram_are_refused():
    high = 0x8080_0000
    elf = patched_elf((0, P_MEMSZ, 8 * MB), (1, P_VADDR, high), (1, P_PADDR, high),
                      (1, P_MEMSZ, 8 * MB + 4))
    with pytest.raises(ElfError, match=rf"segments need {16 * MB + 4} bytes together, over "
                                       r"the 16 MiB"):
        read_elf(elf, "x.elf")
    read_elf(patched_elf((0, P_MEMSZ, 8 * MB), (1, P_VADDR, high), (1, P_PADDR, high),
                         (1, P_MEMSZ, 8 * MB)), "fits.elf")


def test_segment_data_outside_the_file_is_refused():
    with pytest.raises(ElfError, match=r"lie outside the file"):
        read_elf(patched_elf((0, P_OFFSET, 0xFFFF_F000)), "x.elf")
    with pytest.raises(ElfError, match=r"lie outside the file"):
        read_elf(patched_elf((0, P_FILESZ, 1 << 20), (0, P_MEMSZ, 1 << 20)), "x.elf")


@no_pyodide
@pytest.mark.parametrize("command", [["run"], ["run", "--guest"], ["disasm"]])
def test_huge_segment_is_refused_before_allocation(tmp_path, command):
    elf = tmp_path / "huge.elf"
    elf.write_bytes(patched_elf((0, P_MEMSZ, 0x3FFF_0000), source="_start: j _start\n"))
    (result, stderr), growth = fresh_python(f"""
        import contextlib, io
        from vmkit.cli import main
        def attempt():
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                status = main({command + [str(elf), "--max-insns", "10"] if command[0] == "run"
                               else command + [str(elf)]!r})
            return status, err.getvalue()
    """)
    assert result == 1 and stderr.count("\n") == 1 and "over the 16 MiB" in stderr, stderr
    assert growth < 100 * MB


# ---- the command line ---------------------------------------------------------------------

def vmkit(*args, cwd=None):
    """`vmkit ARGS` in a process, bounded in time: a blocking open would fail the test."""
    return subprocess.run([sys.executable, "-m", "vmkit", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=30, env=_ENV)


def one_line_error(result, status, *words):
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr


@no_pyodide
@pytest.mark.parametrize("args", [
    ["asm", "pipe.s"], ["run", "pipe.s"], ["run", "pipe.elf"], ["disasm", "pipe.elf"],
    ["run", "--guest", "pipe.s"], ["compare", "pipe.elf"], ["run", "folder.s"],
    ["run", "/dev/zero"]])
def test_non_regular_files_are_refused_without_blocking(tmp_path, args):
    os.mkfifo(tmp_path / "pipe.s")
    os.mkfifo(tmp_path / "pipe.elf")
    (tmp_path / "folder.s").mkdir()
    one_line_error(vmkit(*args, cwd=tmp_path), 2, "is not a regular file", args[-1])


@no_pyodide
@pytest.mark.parametrize("args", [["asm", "ok.s", "-o", "pipe.elf"],
                                  ["run", "ok.s", "--trace", "pipe.log"]])
def test_fifo_outputs_are_refused_without_blocking(tmp_path, args):
    (tmp_path / "ok.s").write_text("_start: j _start\n")
    os.mkfifo(tmp_path / "pipe.elf")
    os.mkfifo(tmp_path / "pipe.log")
    extra = ["--max-insns", 10] if args[0] == "run" else []
    one_line_error(vmkit(*args, *extra, cwd=tmp_path), 2, "is a FIFO")


@no_pyodide
@pytest.mark.parametrize("args, message", [
    (["bench", "--scale", "nan"], "must be a finite number, not nan"),
    (["bench", "--scale", "inf"], "must be a finite number, not inf"),
    (["bench", "--scale", "-1"], "must be positive"),
    (["bench", "--scale", "0"], "must be positive"),
    (["bench", "--scale", "1e9"], "at most 100"),
    (["bench", "--scale", "x"], "not a number"),
    (["bench", "--repeat", "0"], "must be positive"),
    (["bench", "--repeat", "2.5"], "not a number"),
    (["bench", "--repeat", "1000000"], "from 1 to 100"),
    (["run", "x.s", "--max-insns", "-5"], "must be positive"),
    (["run", "x.s", "--max-insns", "1" + "0" * 30], "from 1 to 1000000000000"),
    (["run", "x.s", "--max-insns", "9" * 5000], "not a number"),
    (["run", "--guest", "syscall", "--iterations", "0"], "must be positive"),
    (["compare", "syscall", "--iterations", "nan"], "not a number"),
    (["compare", "syscall", "--max-insns", "0"], "must be positive"),
    (["run", "--engine", "nope"], "invalid choice"),
])
def test_numeric_options_are_checked_in_one_line(tmp_path, args, message):
    one_line_error(vmkit(*args, cwd=tmp_path), 2, message)


@no_pyodide
def test_huge_iterations_are_one_line_error(tmp_path):
    one_line_error(vmkit("run", "--guest", "syscall", "--iterations", 1 << 40,
                         "--max-insns", 10), 1, "iterations must be an integer")
