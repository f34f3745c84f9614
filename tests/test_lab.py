"""Experiments (vmkit.lab) and `vmkit compare` / `vmkit run --guest`: rows, orderings, errors.

The orderings asserted are the lecture's claims as far as the engines built so far go; each
number behind them is a count, so the assertions are exact and stable.
"""

import json
import subprocess
import sys

import pytest

from vmkit import lab
from vmkit.vmm.exits import ExitReason

ROW_KEYS = {"engine", "workload", "counters", "cycles", "total_cycles", "wall_s", "console",
            "exit_code", "exit_reason", "paging_refused"}


def by_engine(workload, iterations):
    return {r.engine: r for r in lab.compare(workload, iterations=iterations)}


def exits(result):
    return sum(result.counters["exits"].values())


def test_rows_have_the_documented_fields():
    for result in lab.compare("callret", iterations=5):
        row = result.to_dict()
        assert ROW_KEYS <= set(row)
        assert row["exit_code"] == 0 and "callret: 5 iterations done" in row["console"]
        json.dumps(row)


def test_csr_toggling_exits_under_trap_not_under_bt_or_hw():
    # cli/sti in a loop: trap-and-emulate exits twice per iteration (csrci + csrsi trap from
    # U-mode); bt rewrote them into stores to the vCPU page; hw runs them on the VS copy of
    # sstatus. The lecture's claim 3 (and Adams & Agesen's cr8wr): bt exits << trap exits.
    small, large = by_engine("csr", 10), by_engine("csr", 60)
    growth = {e: exits(large[e]) - exits(small[e]) for e in large}
    assert growth["trap"] == 2 * 50 and growth["bt"] == 0 and growth["hw"] == 0


def test_syscalls_cost_trap_an_exit_each_and_hw_nothing():
    small, large = by_engine("syscall", 10), by_engine("syscall", 60)
    # trap: the ecall exits to the VMM, which reflects it; the guest's sret is emulated.
    assert large["trap"].counters["exits"]["ecall"] - small["trap"].counters["exits"]["ecall"] == 50
    assert exits(large["hw"]) == exits(small["hw"])
    extra = {e: large[e].total_cycles - small[e].total_cycles for e in large}
    # hw: the guest's syscalls never leave the guest (hedeleg), as on bare metal. trap and bt
    # pay for every one (Adams & Agesen: syscall under BT = native + ~2000 cycles).
    assert extra["hw"] == extra["native"] < extra["bt"]
    assert extra["native"] < extra["trap"]


def test_emulate_has_no_exits_and_pays_for_every_instruction():
    results = by_engine("callret", 50)
    emulate = results["emulate"]
    assert exits(emulate) == 0
    assert emulate.counters["emulated_instructions"] == emulate.counters["guest_instructions"]
    assert emulate.cycles["emulate"] > max(r.cycles["execute"] for r in results.values())


def test_pure_emulation_works_but_is_not_efficient():
    # The lecture's claim 1, on plain computation (the callret loop): every engine that runs
    # guest code on the CPU pays about a cycle per instruction; emulation pays the emulator's
    # price for each one (`emulate` in costs.py: 40 cycles, an assumption stated there).
    small, large = by_engine("callret", 10), by_engine("callret", 60)
    extra = {e: large[e].total_cycles - small[e].total_cycles for e in large}
    assert extra["emulate"] >= 10 * extra["native"]
    assert extra["hw"] == extra["native"] == extra["trap"]


def test_io_exits_once_per_access_under_every_virtualizing_engine():
    small, large = by_engine("io", 10), by_engine("io", 60)
    for engine in ("trap", "hw"):
        assert large[engine].counters["exits"]["mmio"] - small[engine].counters["exits"]["mmio"] == 50
    for engine in ("native", "emulate"):
        assert "mmio" not in large[engine].counters["exits"]


def test_unknown_workload_and_engine_are_clear_errors():
    with pytest.raises(ValueError, match="unknown workload 'nope'; choose one of tinyos"):
        lab.run("nope")
    with pytest.raises(ValueError, match="unknown engine 'vmx'"):
        lab.compare("csr", engines=("vmx",))


def vmkit(*args):
    return subprocess.run([sys.executable, "-m", "vmkit", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(sys.platform == "emscripten", reason="Pyodide cannot start processes")
def test_cli_compare_and_run_guest():
    result = vmkit("compare", "syscall", "--iterations", "5", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["engine"] for r in rows] == list(lab.DEFAULT_ENGINES)
    assert all({"engine", "exits", "console", "cycles", "wall_s"} <= set(r) for r in rows)
    assert rows[-1]["engine"] == "hw" and rows[-1]["exits"]["sbi"] == 1
    result = vmkit("run", "--guest", "tinyos", "--engine", "trap", "--stats")
    assert result.returncode == 0
    assert "task" in result.stdout and "exits" in result.stderr
    result = vmkit("run", "--guest", "nope")
    assert result.returncode == 1 and "choose one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_paravirtual_hypercalls_are_fewer_than_trap_exits():
    # The PV kernel asks the VMM directly (one ecall + one TRAP_RETURN per syscall, cli/sti
    # and the trap registers on the shared page); trap-and-emulate exits on every privileged
    # instruction of the same kernel path (the lecture's claim 4).
    small, large = by_engine("syscall", 10), by_engine("syscall", 60)
    growth = {e: exits(large[e]) - exits(small[e]) for e in large}
    assert growth["pv"] < growth["trap"]
    assert large["pv"].counters["hypercalls"] > small["pv"].counters["hypercalls"]
    assert large["pv"].console == large["native"].console


# -- the glossary of exit reasons ---------------------------------------------------------------

def _exit_kinds_in_source():
    """Every exit kind the VMM's source can produce: each ExitReason.X the engines name (the
    kinds are enum members, so a string spelling would be a bug of its own: none is left)."""
    import re
    from pathlib import Path
    root = Path(lab.__file__).parent / "vmm"
    kinds = set()
    for path in (root / "engines").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r'VmExit\(\s*"', text), path
        kinds |= {ExitReason[name] for name in re.findall(r"ExitReason\.(\w+)", text)}
    return kinds


def test_glossary_names_every_exit_kind_the_vmm_produces_and_no_other():
    kinds = _exit_kinds_in_source()
    assert len(kinds) > 5                         # the regular expression found them
    assert kinds == set(lab.EXIT_REASONS) == set(ExitReason)
    for reason, (riscv, x86, counted) in lab.EXIT_REASONS.items():
        assert riscv and x86 and isinstance(counted, bool), reason


def test_every_exit_counted_by_a_run_is_in_the_glossary():
    seen = set()
    for workload in ("tinyos", "syscall", "io", "csr", "callret", "trapinsn"):
        for result in lab.compare(workload, iterations=3):
            seen |= set(result.counters["exits"])
    counted = {reason for reason, (_, _, c) in lab.EXIT_REASONS.items() if c}
    assert seen and seen <= counted, seen - counted
    # the run loop never counts its bookkeeping kinds (vm.py)
    assert not seen & {"budget", "idle", "callout"}


def test_glossary_markdown_has_a_row_per_reason():
    table = lab.exit_glossary_markdown().splitlines()
    assert len(table) == 2 + len(lab.EXIT_REASONS)
    assert all(f"`{reason}`" in "\n".join(table) for reason in lab.EXIT_REASONS)


# -- the timeline of one system call --------------------------------------------------------------

# syscall.s's handler on the path of a null call: csrw sscratch, csrr scause, csrr sepc,
# csrw sepc, csrr sscratch (five supervisor-CSR accesses through priv.inc), then sret.
HANDLER_CSR_ACCESSES, HANDLER_SRETS = 5, 1


def timeline(engine):
    steps = lab.syscall_timeline(engine)
    assert steps[0].actor == "guest U" and "`ecall`" in steps[0].text
    assert steps[-1].actor == "guest U" and "add s0,s0,-1" in steps[-1].text   # the loop goes on
    return steps


def test_timeline_under_hw_and_native_never_reaches_the_vmm():
    # hw: hedeleg sends the VU-mode ecall to VS-mode; native: medeleg sends it to S-mode
    for engine, mode, register in (("hw", "VS", "hedeleg"), ("native", "S", "medeleg")):
        steps = timeline(engine)
        assert [s for s in steps if s.actor == "VMM" or s.exit] == [], engine
        traps = [s for s in steps if s.actor == "hart"]
        assert len(traps) == 1 and f"guest kernel in {mode}-mode ({register})" in traps[0].text
        assert "`sret`" in steps[-2].text and steps[-2].actor == "guest S"


def test_timeline_under_trap_exits_for_the_ecall_and_every_privileged_instruction():
    steps = timeline("trap")
    exits = [s.exit for s in steps if s.exit]
    assert exits == ["ecall"] + ["illegal_instruction"] * (HANDLER_CSR_ACCESSES + HANDLER_SRETS)
    last_exit = max(i for i, s in enumerate(steps) if s.exit)
    assert "emulates `sret`" in steps[last_exit - 1].text       # the sret exits, the VMM does it
    assert sum("reflects the environment call" in s.text for s in steps) == 1


def test_timeline_under_bt_calls_out_instead_of_exiting():
    steps = timeline("bt")
    assert [s.exit for s in steps if s.exit] == ["ecall"]        # the user's ecall still traps
    # the handler's five accesses to sscratch/scause/sepc are translated inline (loads and
    # stores of their copies on the vCPU page, bt.py); only the sret calls out
    emulated = [s.text for s in steps if s.text.startswith("emulates")]
    assert len(emulated) == HANDLER_SRETS and "sret" in emulated[-1]
    assert sum("calls the VMM" in s.text for s in steps) == HANDLER_SRETS
    assert any("translation of trap_vector" in s.text for s in steps)


def test_timeline_under_pv_has_one_hypercall_and_no_emulation():
    steps = timeline("pv")
    assert [s.exit for s in steps if s.exit] == ["ecall", "hypercall"]
    assert any("TRAP_RETURN" in s.text for s in steps)
    assert not any(s.text.startswith("emulates") for s in steps)


def test_timeline_under_emulate_is_all_software():
    steps = timeline("emulate")
    assert not any(s.exit for s in steps) and {s.actor for s in steps} == {"guest U", "guest S",
                                                                             "VMM"}
    assert all("interpreted" in s.text for s in steps[2:])


def test_timeline_exits_are_what_one_more_syscall_adds_to_a_run():
    # An independent count: one more iteration of the syscall loop adds exactly the exits the
    # timeline shows (the run's counters do not go through the tracing hooks).
    small, large = by_engine("syscall", 10), by_engine("syscall", 11)
    for engine in lab.DEFAULT_ENGINES:
        grown = {k: v - small[engine].counters["exits"].get(k, 0)
                 for k, v in large[engine].counters["exits"].items()}
        grown = {k: v for k, v in grown.items() if v}
        shown = {}
        for step in lab.syscall_timeline(engine):
            if step.exit:
                shown[step.exit] = shown.get(step.exit, 0) + 1
        assert grown == shown, engine


def test_timeline_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown engine 'vmx'"):
        lab.syscall_timeline("vmx")
    with pytest.raises(ValueError, match="call must be an integer from 1 to 8"):
        lab.syscall_timeline("hw", call=0)


# -- the paravirtual source change -------------------------------------------------------------

def test_paravirtual_macros_are_the_two_branches_of_priv_inc():
    macros = lab.paravirtual_macros()
    assert {"priv_csrr", "priv_csrw", "priv_csrsi", "priv_csrci", "priv_sret",
            "priv_wfi"} <= set(macros)
    for name, (native, pv) in macros.items():
        assert native.split()[:2] == [".macro", name] and pv.split()[:2] == [".macro", name]
        assert native.rstrip().endswith(".endm") and pv.rstrip().endswith(".endm")
    native, pv = macros["priv_csrci"]
    assert "csrci" in native.splitlines()[1] and "sw      zero, PV_VIF(zero)" in pv
    native, pv = macros["priv_sret"]
    assert native.splitlines()[1].split() == ["sret"] and "PV_TRAP_RETURN" in pv
    assert not any(line.split()[:1] == ["sret"] for line in pv.splitlines())


def test_a_run_whose_engine_refuses_guest_paging_is_not_priced(monkeypatch):
    """An engine without a paging_mode stops a guest at its `csrw satp` (a PV build at its
    first page-table hypercall), so its run is short: marked, not priced; the engines with a
    paging_mode run and price it. trap is made to refuse here (its class attribute is the
    switch), beside any engine that refuses by itself. A file guest that turns paging on
    (vs_paging.s) is caught by the engine itself, and not marked where it runs."""
    import corpus
    from vmkit.vmm.engines import ENGINES, engine_class
    monkeypatch.setattr(engine_class("trap"), "paging_mode", None)
    refusing = {e for e in ENGINES if engine_class(e).paging_mode is None}
    assert "trap" in refusing and "bt" not in refusing       # (bt's own mode stays)
    rows = {r.engine: r for r in lab.compare("pagefault", iterations=3)}
    refused = {e for e, r in rows.items() if r.paging_refused}
    assert refused == refusing
    for engine, row in rows.items():
        if engine in refused:
            assert (row.cycles, row.total_cycles) == ({}, None)
        else:
            assert row.exit_code == 0 and row.total_cycles == sum(row.cycles.values()) > 0
    guest = corpus.PROGRAM_DIR / "guests" / "vs_paging.s"
    assert lab.run(guest, "trap").paging_refused
    assert not lab.run(guest, "bt").paging_refused
    assert not lab.run("syscall", "bt", iterations=2).paging_refused
