"""The program corpus on QEMU: every program, built with GNU binutils and run on
`qemu-system-riscv32 -M virt`, reproduces its golden UART output and exit status.

vmkit's own machine is held to the same golden files elsewhere; this file proves the golden
files are what real QEMU does today (and that the programs' self-checks pass there).
"""

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

import corpus
from conftest import need_tool

NAMES = [p.stem for p in corpus.PROGRAMS]


def _need_all_tools():
    for tool in (corpus.AS, corpus.LD, corpus.QEMU):
        need_tool(tool)


@pytest.fixture(scope="module")
def qemu_results(tmp_path_factory):
    """Build and run the whole corpus once, four QEMUs at a time: name -> (output, status)."""
    _need_all_tools()
    outdir = tmp_path_factory.mktemp("corpus")

    def run(program):
        return program.stem, corpus.run_qemu(corpus.build_gnu(program, outdir))

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(run, corpus.PROGRAMS))


def test_corpus_has_at_least_40_programs_with_golden_files():
    assert len(corpus.PROGRAMS) >= 40
    missing = [n for n in NAMES if not (corpus.EXPECTED_DIR / f"{n}.out").exists()]
    assert missing == []


@pytest.mark.parametrize("name", NAMES)
def test_program_matches_golden_on_qemu(name, qemu_results):
    program = corpus.PROGRAM_DIR / f"{name}.s"
    want_output, want_status = corpus.expected(program)
    output, status = qemu_results[name]
    assert output.decode() == want_output.decode()
    assert status == want_status


@pytest.mark.parametrize("name", NAMES)
def test_golden_output_ends_with_verdict(name):
    """PASS and status 0, except intended-failure programs (`# expect-exit: N`): FAIL N."""
    output, status = corpus.expected(corpus.PROGRAM_DIR / f"{name}.s")
    lines = output.decode().splitlines()
    assert lines, "empty golden output"
    if status == 0:
        assert lines[-1] == "PASS"
        assert not any("expected" in line for line in lines)
    else:
        assert lines[-1] == f"FAIL {status}"
        assert sum("expected" in line for line in lines) == status


def test_there_is_an_intended_failure_program():
    assert any(corpus.expected_status(p) != 0 for p in corpus.PROGRAMS)


# Features vmkit's assembler does not take: the corpus must stay plain GNU as.
_FORBIDDEN = re.compile(r"^\s*#\s*(include|define|if|ifdef|endif)\b"   # C preprocessor
                        r"|\.cfi_"                                      # CFI directives
                        r"|%(?!hi\(|lo\(|pcrel_hi\(|pcrel_lo\()",        # other % operators
                        re.MULTILINE)


@pytest.mark.parametrize("path", corpus.PROGRAMS + [corpus.INCLUDE_DIR / "vmkit_test.inc"],
                         ids=lambda p: p.name)
def test_sources_use_plain_gnu_as(path):
    text = path.read_text()
    assert _FORBIDDEN.findall(text) == []
    if path.suffix == ".s":
        assert '.include "vmkit_test.inc"' in text


def test_hung_program_times_out(tmp_path):
    """run_qemu never hangs: a program spinning forever raises TimeoutExpired."""
    _need_all_tools()
    source = tmp_path / "spin.s"
    source.write_text('.include "vmkit_test.inc"\nmain:\n    j main\n')
    elf = corpus.build_gnu(source, tmp_path)
    with pytest.raises(subprocess.TimeoutExpired):
        corpus.run_qemu(elf, timeout=1)


def test_unexpected_trap_reports_and_fails(tmp_path):
    """The default trap vector prints the cause and exits FAIL 255 instead of looping."""
    _need_all_tools()
    source = tmp_path / "trap.s"
    source.write_text('.include "vmkit_test.inc"\nmain:\n    .word 0\n    TEST_END\n')
    output, status = corpus.run_qemu(corpus.build_gnu(source, tmp_path))
    # illegal instruction (2), mtval = the instruction bits (0)
    assert output == b"unexpected trap: mcause 00000002 mtval 00000000\nFAIL 255\n"
    assert status == 255


def test_build_error_is_one_clear_exception(tmp_path):
    need_tool(corpus.AS)
    source = tmp_path / "bad.s"
    source.write_text("    addi a0, a0\n")
    with pytest.raises(corpus.BuildError,
                       match=r"riscv64-unknown-elf-as failed: \S*bad\.s:1: Error"):
        corpus.build_gnu(source, tmp_path)
