"""The `vmkit` command as a user runs it: real processes, stdout/stderr and exit statuses."""

import json
import subprocess
import sys

import pytest

from conftest import need_tool, no_pyodide

pytestmark = no_pyodide    # every test here starts `python -m vmkit` as a process


def vmkit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vmkit", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def no_traceback(result):
    assert "Traceback" not in result.stderr, result.stderr


HELLO = """
        .text
        .globl _start
_start: la   a0, text
        li   a1, 0x10000000
1:      lbu  t0, 0(a0)
        beqz t0, 2f
        sb   t0, 0(a1)
        addi a0, a0, 1
        j    1b
2:      li   t0, 0x100000
        li   t1, (3 << 16) | 0x3333     # fail with code 3
        sw   t1, 0(t0)
        j    .
        .data
text:   .asciz "hello\\n"
"""


def test_asm_then_run_elf_and_source(tmp_path):
    source = tmp_path / "hello.s"
    source.write_text(HELLO)
    result = vmkit("asm", source, "-o", tmp_path / "hello.elf")
    assert result.returncode == 0 and result.stderr == ""
    for program in (tmp_path / "hello.elf", source):
        result = vmkit("run", program)
        assert result.stdout == "hello\n"
        assert result.returncode == 3            # the finisher's fail code is the exit status


def test_asm_error_is_one_located_line(tmp_path):
    source = tmp_path / "bad.s"
    source.write_text("_start: addi a0, a0, 1\n        addi a0, a9, 1\n")
    result = vmkit("asm", source)
    assert result.returncode == 1
    no_traceback(result)
    assert result.stderr.strip().startswith(f"{source}:2:")
    assert "a9" in result.stderr


@pytest.mark.parametrize("args, message", [
    (("asm", "no-such-file.s"), "no-such-file.s"),
    (("run", "no-such-file.elf"), "no-such-file.elf"),
    (("disasm", "no-such-file.elf"), "no-such-file.elf"),
    (("run", "x.s", "--max-insns", "zero"), "not a number"),
])
def test_bad_arguments_give_a_clear_error(tmp_path, args, message):
    result = vmkit(*args, cwd=tmp_path)
    assert result.returncode != 0
    no_traceback(result)
    assert message in result.stderr


def test_malformed_elf_is_rejected(tmp_path):
    elf = tmp_path / "broken.elf"
    elf.write_bytes(b"\x7fELF\x01\x01\x01" + bytes(20))
    for command in ("run", "disasm"):
        result = vmkit(command, elf)
        assert result.returncode == 1
        no_traceback(result)
        assert result.stderr.count("\n") == 1 and "broken.elf" in result.stderr


def test_elf_outside_ram_is_rejected(tmp_path):
    source = tmp_path / "low.s"
    source.write_text("_start: j _start\n")
    elf = tmp_path / "low.elf"
    from vmkit.asm import assemble
    elf.write_bytes(assemble("_start: j _start\n", base=0x1000).to_elf())
    result = vmkit("run", elf)
    assert result.returncode == 1 and "outside RAM" in result.stderr
    no_traceback(result)


def test_budget_and_wfi_exits(tmp_path):
    loop = tmp_path / "loop.s"
    loop.write_text("_start: j _start\n")
    result = vmkit("run", loop, "--max-insns", 1000)
    assert result.returncode == 124 and "1000 instructions" in result.stderr
    sleepy = tmp_path / "sleepy.s"
    sleepy.write_text("_start: wfi\n j _start\n")
    result = vmkit("run", sleepy)
    assert result.returncode == 125 and "wfi" in result.stderr


def test_htif_tohost_exit_status(tmp_path):
    # riscv-tests style: fail with code 21 -> tohost = 21 << 1 | 1.
    source = tmp_path / "htif.s"
    source.write_text("""
        _start: la t0, tohost
                li t1, (21 << 1) | 1
                sw t1, 0(t0)
                sw zero, 4(t0)
        1:      j 1b
        .data
        .balign 8
        tohost: .word 0, 0
        fromhost: .word 0, 0
    """)
    result = vmkit("run", source)
    assert result.returncode == 21


def test_disasm_matches_objdump(tmp_path):
    objdump = need_tool("riscv64-unknown-elf-objdump")
    source = tmp_path / "hello.s"
    source.write_text(HELLO)
    elf = tmp_path / "hello.elf"
    assert vmkit("asm", source, "-o", elf).returncode == 0
    ours = vmkit("disasm", elf).stdout
    theirs = subprocess.run([objdump, "-d", "-M", "priv-spec=1.11", str(elf)],
                            capture_output=True, text=True).stdout
    body = lambda text: [line.split() for line in text.splitlines() if ":\t" in line]
    assert body(ours) == body(theirs) and len(body(ours)) > 5


def test_demo_runs():
    result = vmkit("demo")
    assert result.returncode == 0
    assert "Hello from a RISC-V hart" in result.stdout and "lui" in result.stdout


def test_bench_json_rows():
    result = vmkit("bench", "--json", "--repeat", "1", "--scale", "0.02")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    speed = [row for row in rows if row["mips"] is not None]
    cases = {("intloop", "bare"), ("intloop", "sv32"), ("memcpy", "bare"), ("memcpy", "sv32")}
    for path in ("reference", "fast"):
        assert {(r["workload"], r["paging"]) for r in speed if r["path"] == path} == cases
    assert all(r["mips"] > 0 and r["ratio"] > 0 for r in speed)
    # Both paths count the same events: the TLB does not know which path fetched.
    for workload, paging in cases:
        pair = [r for r in speed if (r["workload"], r["paging"]) == (workload, paging)]
        assert len({(r["instructions"], r["tlb_hits"], r["tlb_misses"]) for r in pair}) == 1
    # --scale 0.02 makes memcpy copy 4 KiB once in S-mode with Sv32: per word 6 instructions
    # fetched + 1 load + 1 store = 8 TLB lookups, all hits but the first touch of 4 pages.
    memcpy_sv32 = next(r for r in speed if r["workload"] == "memcpy" and r["paging"] == "sv32")
    assert 8 * 1024 - 8 <= memcpy_sv32["tlb_hits"] <= 8 * 1024 + 32
    assert 1 <= memcpy_sv32["tlb_misses"] <= 8
    compare = [row for row in rows if row["workload"] == "compare-tinyos"]
    assert [r["path"] for r in compare] == ["reference", "fast"]
    assert compare[0]["instructions"] == compare[1]["instructions"] > 6 * 40_000
    memory = next(row for row in rows if "host_bytes" in row)
    assert memory["guest_ram_bytes"] == 64 << 20 and memory["ratio"] < 1.1
