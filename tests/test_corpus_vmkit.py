"""The corpus on vmkit: every program must print exactly what QEMU printed and exit the same way.

Two routes, so that a difference points at one component:
* vmkit's own assembler -> vmkit's machine (needs no external tool: always runs);
* GNU as + ld (the very ELF QEMU ran in test_corpus_qemu) -> vmkit's ELF loader -> machine.
The golden files are QEMU 7.2's output (tests/corpus.py explains how they were made).
"""

import gc

import pytest

from corpus import INCLUDE_DIR, PROGRAMS, build_gnu, expected
from conftest import need_tool
from vmkit.asm import assemble_file
from vmkit.elf import load_elf_file
from vmkit.hw.machine import Machine

BUDGET = 20_000_000


def _include(name):
    path = INCLUDE_DIR / name
    return path.read_text() if path.is_file() else None


def _run(load):
    gc.collect()                 # each machine owns 128 MiB of RAM, as QEMU's default
    machine = Machine()
    load(machine)
    exit = machine.run(BUDGET)
    return bytes(machine.console_output), exit


def _check(program, output, exit):
    want_output, want_status = expected(program)
    assert output.decode(errors="replace") == want_output.decode(errors="replace")
    assert exit.reason == "poweroff", exit.describe()
    assert exit.code == want_status


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_vmkit_assembled(program):
    program_image = assemble_file(program, include=_include)
    output, exit = _run(lambda machine: machine.load_program(program_image))
    _check(program, output, exit)


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_gnu_built(program, tmp_path):
    need_tool("riscv64-unknown-elf-as")
    need_tool("riscv64-unknown-elf-ld")
    image = load_elf_file(build_gnu(program, tmp_path))
    output, exit = _run(lambda machine: machine.load_elf(image))
    _check(program, output, exit)
