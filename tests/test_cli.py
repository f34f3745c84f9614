"""The `vmkit` command as a user runs it: real processes, stdout/stderr and exit statuses."""

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

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
    (("asm", "no-such-file.s"), "vmkit: no such file: no-such-file.s"),
    (("run", "no-such-file.elf"), "vmkit: no such file: no-such-file.elf"),
    (("run", "no-such-file.s"), "vmkit: no such file: no-such-file.s"),
    (("disasm", "no-such-file.elf"), "vmkit: no such file: no-such-file.elf"),
    (("run", "--guest", "no-such-file.s"), "vmkit: no such file: no-such-file.s"),
    (("run", "--guest", "dir/kernel"), "vmkit: no such file: dir/kernel"),
    (("compare", "no-such-file.elf"), "vmkit: no such file: no-such-file.elf"),
    (("run", "x.s", "--max-insns", "zero"), "not a number"),
    (("bench", "--scale", "0"), "must be positive"),
])
def test_bad_arguments_give_a_clear_error(tmp_path, args, message):
    result = vmkit(*args, cwd=tmp_path)
    assert result.returncode != 0
    no_traceback(result)
    assert message in result.stderr


def one_line(result):
    assert result.stderr.count("\n") == 1, result.stderr


# A file that runs under every mode, so that only the option can be what is refused.
GUEST = """
_start: li a7, 0x53525354       # SBI SRST: shutdown, no failure
        li a6, 0
        li a0, 0
        li a1, 0
        ecall
"""


@pytest.mark.parametrize("args, option", [
    (("run", "prog.s", "--engine", "trap"), "--engine"),
    (("run", "prog.s", "--iterations", "3"), "--iterations"),
    (("run", "prog.s", "--quirk", "popf"), "--quirk"),
    (("run", "prog.s", "--stats"), "--stats"),
    (("run", "prog.s", "--json"), "--json"),
    (("run", "prog.s", "--model", "p4-2006"), "--model"),
    (("run", "prog.s", "--guest", "syscall"), "not both"),
    (("run", "--guest", "syscall", "--trace", "t.log"), "--trace"),
    (("run", "--guest", "syscall", "--model", "p4-2006"), "--model"),
    (("run", "--guest", "syscall", "--stats", "--json"), "not both"),
    (("run", "--guest", "prog.s", "--iterations", "3"), "--iterations"),
    (("compare", "prog.s", "--iterations", "3"), "--iterations"),
    (("run", "prog.s", "--paging", "shadow"), "--paging"),
    (("run", "--guest", "a=prog.s", "--guest", "b=prog.s", "--paging", "soft"), "--paging"),
    (("run",), "give a program"),
])
def test_options_that_do_not_apply_are_refused(tmp_path, args, option):
    (tmp_path / "prog.s").write_text(GUEST)
    result = vmkit(*args, "--max-insns", 1000, cwd=tmp_path)    # bounded if it did run
    assert result.returncode == 2 and result.stdout == ""
    no_traceback(result)
    one_line(result)
    assert option in result.stderr
    assert not (tmp_path / "t.log").exists()


def test_the_same_options_are_accepted_where_they_apply(tmp_path):
    # The other side of the test above: the options it refuses do work in their place.
    (tmp_path / "prog.s").write_text(GUEST)
    result = vmkit("run", "prog.s", "--trace", "t.log", "--max-insns", 5, cwd=tmp_path)
    assert result.returncode == 124         # bare-metal, the ecall goes to M-mode's mtvec
    assert (tmp_path / "t.log").read_text().count("\n") == 5
    for args in (("run", "--guest", "prog.s", "--engine", "trap", "--quirk", "popf", "--stats",
                  "--model", "p4-2006"),
                 ("run", "--guest", "syscall", "--iterations", "3", "--json"),
                 ("compare", "syscall", "--iterations", "3", "--engines", "native,hw")):
        result = vmkit(*args, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)


def test_engine_choices_are_the_registered_engines():
    from vmkit.vmm.engines import ENGINES
    assert len(ENGINES) == 6
    result = vmkit("run", "--guest", "syscall", "--engine", "vt-x")
    assert result.returncode == 2 and result.stdout == ""
    offered = result.stderr.split("choose from", 1)[1]
    assert sorted(offered.replace("'", "").strip(" )\n").split(", ")) == sorted(ENGINES)
    for command in ("run", "compare"):
        text = vmkit(command, "--help").stdout
        assert all(f"\n  {name} " in text for name in ENGINES), (command, text)


# --paging MODE: read from the engines (Engine.paging_mode), not a table in the CLI.
# The first engine offering each mode (registry order) is the one --paging picks.
PAGING = {"native": "native", "soft": "emulate", "shadow": "trap", "nested": "hw", "direct": "pv"}


def test_paging_picks_the_engine_that_offers_it(tmp_path):
    """Without --engine, --paging runs the guest under the one engine with that paging_mode
    (the --stats header names it); the shadow counters appear exactly under trap."""
    from vmkit.vmm.engines import PAGING_MODES, offering
    assert PAGING == {mode: offering(mode)[0] for mode in PAGING_MODES}
    for mode, engine in PAGING.items():
        result = vmkit("run", "--guest", "pagefault", "--iterations", 3, "--paging", mode,
                       "--stats")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "pagefault: 3 iterations done\n"
        assert f"--- pagefault under {engine}: shutdown" in result.stderr
        # pagefault under trap: one true fault per page (3), each page then filled (hidden).
        shadow = [line for line in result.stderr.splitlines() if line.startswith("shadow")]
        assert shadow == ([] if engine != "trap" else [shadow[0]])
        if engine == "trap":
            assert ", 3 true faults," in shadow[0] and "hidden faults" in shadow[0]
            assert "switches" in shadow[0] and "fences" in shadow[0]


@pytest.mark.parametrize("args, message", [
    (("run", "--guest", "pagefault", "--engine", "trap", "--paging", "nested"),
     "vmkit run: engine trap virtualizes guest paging by shadow, not nested "
     "(--paging nested: hw)"),
    (("run", "--guest", "pagefault:pv", "--paging", "shadow"),
     "vmkit run: engine pv virtualizes guest paging by direct, not shadow "
     "(--paging shadow: trap, bt)"),
    (("compare", "pagefault", "--engines", "hw,pv", "--paging", "nested"),
     "vmkit compare: engine pv virtualizes guest paging by direct, not nested "
     "(--paging nested: hw)"),
])
def test_paging_checks_the_engine_asked_for(args, message):
    result = vmkit(*args)
    assert result.returncode == 2 and result.stdout == ""
    no_traceback(result)
    assert result.stderr == message + "\n"


def test_compare_shows_a_refused_run_as_refused(monkeypatch, capsys):
    """An engine without a paging_mode (trap, made to refuse by its class attribute, in this
    process) stops a paging guest at once: its row must not show a (small) cycle figure.
    --paging nested compares hw alone."""
    from vmkit import cli
    from vmkit.vmm.engines import engine_class
    monkeypatch.setattr(engine_class("trap"), "paging_mode", None)
    assert cli.main(["compare", "pagefault", "--iterations", "3", "--engines",
                     "native,trap,pv,hw"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[2:6]}
    assert rows["trap"].endswith("refuses guest paging"), rows
    for engine in ("native", "pv", "hw"):
        assert "refuses" not in rows[engine] and int(rows[engine].split()[3]) > 0
    assert "identical under every engine that ran it" in out
    assert cli.main(["compare", "pagefault", "--iterations", "3", "--engines", "trap,hw",
                     "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["engine"], r["paging_refused"], r["total_cycles"] is None) for r in rows] == \
        [("trap", True, True), ("hw", False, False)]
    monkeypatch.undo()
    result = vmkit("compare", "pagefault", "--iterations", 3, "--paging", "nested")
    assert [line.split()[0] for line in result.stdout.splitlines()[2:-1]] == ["hw"]


def test_a_bad_model_is_refused_before_the_run():
    for args in (("run", "--guest", "tinyos", "--stats", "--model", "p5"),
                 ("compare", "syscall", "--model", "p5")):
        result = vmkit(*args)
        assert result.returncode == 2 and "p5" in result.stderr
        assert result.stdout == ""          # the guest never ran: it would have printed


def test_help_has_examples():
    from vmkit.cli import build_parser
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) >= {"asm", "disasm", "run", "compare", "bench", "workbook"}
    for name in [None, *commands]:
        result = vmkit(*([name] if name else []), "--help")
        assert result.returncode == 0
        if name != "demo":                  # demo takes no options: nothing to show
            assert "\nexamples:\n  vmkit " in result.stdout, name


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


def test_demo_runs_and_says_what_to_try_next():
    from vmkit.cli import build_parser
    result = vmkit("demo")
    assert result.returncode == 0
    assert "Hello from a RISC-V hart" in result.stdout and "lui" in result.stdout
    suggestions = result.stdout.split("What to try next:\n", 1)[1].splitlines()
    commands = [line.split("  ")[1].split() for line in suggestions if line.startswith("  vmkit")]
    assert len(commands) >= 3 and len(commands) == len(suggestions) - 1
    for command in commands:                # each one is a valid command line
        try:
            build_parser().parse_args(command[1:])
        except SystemExit as stop:              # --help prints and exits 0; errors exit 2
            assert stop.code == 0 and "--help" in command


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
    consolidate = [row for row in rows if row["workload"] == "consolidate-8"]
    assert [r["path"] for r in consolidate] == ["reference", "fast"]
    alone, together = consolidate[0]["utilization"]
    assert consolidate[1]["utilization"] == [alone, together] and together > 6 * alone
    host = rows[0]
    assert host["workload"] == "host" and host["mips"] is None
    assert host["python"] == f"{platform.python_implementation()} {platform.python_version()}"
    assert (host["machine"], host["processors"]) == (platform.machine(), os.cpu_count())
    memory = next(row for row in rows if "host_bytes" in row)
    assert memory["guest_ram_bytes"] == 64 << 20 and memory["ratio"] < 1.1


def test_bench_table_starts_with_where_it_ran():
    from vmkit import bench
    first = bench.table([bench.host()]).splitlines()[0]
    assert first.startswith(f"vmkit bench on {platform.python_implementation()} "
                            f"{platform.python_version()}, ")
    assert f" {platform.machine()}, {os.cpu_count()} processor" in first


# --- vmkit workbook ------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


def repository_notebooks():
    """What a student gets, listed independently of vmkit.workbook: every file under
    notebooks/ except instructors' folders and tool droppings."""
    skip = {"instructor", "autograder", ".ipynb_checkpoints", "__pycache__"}
    return sorted(p.relative_to(ROOT / "notebooks") for p in (ROOT / "notebooks").rglob("*")
                  if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
                  and not p.name.startswith("."))


def test_workbook_copies_the_notebooks_and_keeps_the_students_edits(tmp_path):
    expected = repository_notebooks()
    names = {str(p) for p in expected}
    assert {"00-start-here.ipynb", "02-cpu-virtualization.ipynb"} <= names
    assert any(name.startswith("homework/") and name.endswith(".ipynb") for name in names)
    folder = tmp_path / "my work"
    result = vmkit("workbook", folder, "--no-open")
    assert result.returncode == 0, result.stderr
    copied = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert copied == expected
    assert all((folder / p).read_bytes() == (ROOT / "notebooks" / p).read_bytes()
               for p in expected)
    assert f"copied {len(expected)} file(s)" in result.stdout
    assert f"cd '{folder}' && {sys.executable} -m jupyter lab 00-start-here.ipynb" \
        in result.stdout

    # The student edits one notebook and loses another; running it again keeps the edit
    # and brings back only the missing file.
    edited, lost = folder / "00-start-here.ipynb", folder / expected[-1]
    edited.write_text("my answers")
    lost.unlink()
    result = vmkit("workbook", folder, "--no-open")
    assert result.returncode == 0
    assert edited.read_text() == "my answers" and lost.exists()
    assert "copied 1 file(s)" in result.stdout and f"kept {len(expected) - 1}" in result.stdout


def test_workbook_leaves_instructor_material_behind(tmp_path):
    from vmkit import workbook
    source = tmp_path / "notebooks"
    for name in ("00-start-here.ipynb", "homework/hw.ipynb", "homework/tests/q1.py",
                 "homework/instructor/hw-key.ipynb", "homework/autograder/tests/q1.py",
                 ".ipynb_checkpoints/00-start-here-checkpoint.ipynb", "homework/.OTTER_LOG"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(name)
    copied, kept = workbook.copy(source, tmp_path / "work")
    assert sorted(map(str, copied)) == ["00-start-here.ipynb", "homework/hw.ipynb",
                                        "homework/tests/q1.py"]
    assert kept == [] and not (tmp_path / "work/homework/instructor").exists()


def test_workbook_refuses_a_folder_inside_the_notebooks():
    result = vmkit("workbook", ROOT / "notebooks" / "work", "--no-open")
    assert result.returncode == 1 and "inside the repository's notebooks" in result.stderr
    one_line(result)
    assert not (ROOT / "notebooks" / "work").exists()


def test_workbook_opens_jupyterlab_in_the_folder_without_a_child_process(tmp_path,
                                                                       monkeypatch):
    # os.execvp replaces the process: intercept it to see what would run, and where.
    import importlib.util
    from vmkit import cli
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    seen = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: seen.append((file, argv, os.getcwd())))
    assert cli.main(["workbook"]) is None
    assert seen == [(sys.executable, [sys.executable, "-m", "jupyter", "lab",
                                      "00-start-here.ipynb"], str(tmp_path / "vmkit-workbook"))]
    assert (tmp_path / "vmkit-workbook" / "00-start-here.ipynb").is_file()


def test_workbook_and_jupyter_leave_the_checkout_clean():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/vmkit-workbook/" in ignored and ".ipynb_checkpoints/" in ignored
    if shutil.which("git") and (ROOT / ".git").exists():     # and git agrees
        for path in ("vmkit-workbook/00-start-here.ipynb",
                     "notebooks/.ipynb_checkpoints/00-start-here-checkpoint.ipynb"):
            check = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
            assert check.returncode == 0, path


# -- several guests on one host (vmkit run --guest A --guest B ...) ---------------------------
def test_several_guests_share_one_host_and_each_console_is_prefixed():
    alone = vmkit("run", "--guest", "tinyos")
    result = vmkit("run", "--guest", "a=tinyos", "--guest", "b=halt:trap", "--guest",
                   "spin:bt", "--max-insns", 300_000)
    no_traceback(result)
    lines = result.stdout.splitlines()
    console = [line for line in lines if line.startswith("[")]
    # tinyos beside a halting and a spinning guest prints exactly what it prints alone
    assert [line[4:] for line in console if line.startswith("[a] ")] == \
        alone.stdout.splitlines()
    assert len(console) == len(alone.stdout.splitlines())   # b and spin print nothing
    summary = lines[len(console):]
    assert summary[0].split()[:2] == ["name", "engine"]
    rows = {line.split()[0]: line.split() for line in summary[1:4]}
    assert rows["a"][1] == "hw" and rows["a"][-2:] == ["shutdown", "0"]
    assert rows["b"][1] == "trap" and rows["b"][5] == "wfi:"
    assert rows["spin"][1] == "bt" and rows["spin"][-1] == "running"
    assert summary[4].startswith("host: 300000 ticks")       # the host ran its whole budget
    assert result.returncode == 125             # the first guest that failed: b waits forever
    one_line(result)
    assert "b, spin" in result.stderr


FAILURE = GUEST.replace("li a1, 0", "li a1, 1")     # SRST reason 1: system failure


def test_several_guests_exit_status_and_default_names(tmp_path):
    (tmp_path / "fails.s").write_text(FAILURE)
    result = vmkit("run", "--guest", "syscall:trap", "--guest", "syscall:pv",
                   "--iterations", 3, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert "[syscall] syscall: 3 iterations done" in result.stdout
    assert "[syscall-2] syscall: 3 iterations done" in result.stdout
    result = vmkit("run", "--guest", "ok=syscall", "--guest", "fails.s:emulate", cwd=tmp_path)
    assert result.returncode == 1              # the guest's own shutdown code
    assert "fails  emulate" in result.stdout and "shutdown 1" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("--guest", "a=tinyos:vt-x", "--guest", "b=io"), "unknown engine 'vt-x'"),
    (("--guest", "=tinyos"), "name before '=' is empty"),
    (("--guest", "a=:hw"), "no workload"),
    (("--guest", "a=tinyos", "--guest", "a=io"), "two guests are named 'a'"),
    (("--guest", "tinyos:native", "--guest", "io:native"), "only one guest may be native"),
    (("--guest", "a=tinyos", "--stats"), "--stats applies to one guest"),
    (("--guest", "a=tinyos", "--guest", "b=io", "--json"), "--json applies to one guest"),
    (("--guest", "a=halt", "--guest", "spin", "--iterations", "2"), "--iterations"),
    (("--guest", "a=prog.s", "--guest", "no-such.s"), "no such file: no-such.s"),
    (("prog.s", "--guest", "a=tinyos"), "not both"),
])
def test_bad_guest_specs_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "prog.s").write_text(GUEST)
    result = vmkit("run", *args, "--max-insns", 1000, cwd=tmp_path)
    assert result.returncode in (1, 2) and result.stdout == ""
    assert result.returncode == 2 or "no such file" in message
    no_traceback(result)
    one_line(result)
    assert message in result.stderr


def test_a_named_console_hands_on_whole_prefixed_lines_and_bounds_a_flood():
    from vmkit.hosts import LINE_LIMIT, NamedConsole, default_names, parse_guest
    out = []
    console = NamedConsole("vm1", out.append)
    console(b"hel")
    console(b"lo\r\nwor")
    assert out == ["[vm1] hello\n"]
    console(b"x" * (3 * LINE_LIMIT))           # no newline ever: shown in pieces, not kept
    assert len(out) == 4 and len(console.pending) < LINE_LIMIT
    console.flush()
    assert out[1] == "[vm1] wor" + "x" * (LINE_LIMIT - 3) + "\n" and console.pending == b""
    assert parse_guest("db=kernel.s:bt") == ("db", "kernel.s", "bt")
    assert parse_guest("tinyos", engine="trap") == (None, "tinyos", "trap")
    guests = [parse_guest(s) for s in ("tinyos", "tinyos-2=io", "tinyos", "x=tinyos")]
    assert default_names(guests) == ["tinyos", "tinyos-2", "tinyos-3", "x"]
