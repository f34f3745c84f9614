"""Binary translation: the lecture's slide in code, chaining, callouts, invalidation."""

from vmkit import guest
from vmkit.asm import assemble
from vmkit.vmm.vm import VirtualMachine


def run(program, budget=1_000_000):
    vm = VirtualMachine(program, engine="bt")
    stop = vm.run(budget)
    return vm, stop


def test_cli_and_sti_become_stores_to_the_vcpu_page():
    program = guest.build("csr", iterations=5)
    vm, stop = run(program)
    assert stop.reason == "shutdown"
    rows = vm.engine.describe_block(program.symbols["bench"] + 4)
    by_text = {text: host for _, text, host in rows}
    # cli: a single store of zero to VIF (x0-relative: address 0xFFFFF800), no exit.
    assert [h for _, h in by_text["csrc\tsstatus,2"]] == ["sw\tzero,-2048(zero) # fffff800"]
    # sti: store 1 to VIF and call out only if an interrupt is pending.
    sti = " ".join(h for _, h in by_text["csrs\tsstatus,2"])
    assert "sw\tt6,-2048(zero)" in sti and "lw\tt6,-2044(zero)" in sti and "bnez\tt6" in sti


def test_hot_loops_run_from_the_cache_without_exits():
    # The cli/sti loop: after the first iteration the block's exit is chained to itself, so
    # 50 more iterations add no exit and no callout (trap-and-emulate would add 100 exits).
    exits, callouts = {}, {}
    for n in (10, 60):
        vm, _ = run(guest.build("csr", iterations=n))
        exits[n] = sum(vm.counters.exits.values())
        callouts[n] = vm.engine.statistics()["tc_callouts"]
    assert exits[60] == exits[10] and callouts[60] == callouts[10]


def test_writing_translated_code_invalidates_it():
    # The kernel runs a function, rewrites its first instruction (li a0,1 -> li a0,2), runs
    # it again after fence.i. Translation must not serve the stale code.
    program = assemble("""
        _start: call f
                mv s0, a0
                la t0, f
                lw t1, patch
                sw t1, 0(t0)
                fence.i
                call f
                mv s1, a0
                li a7, 0x53525354
                li a6, 0
                li a0, 0
                li a1, 0
                ecall
        f:      li a0, 1
                ret
        patch:  li a0, 2
    """)
    vm, stop = run(program)
    assert stop.reason == "shutdown"
    x = vm.engine.guest_state()["x"]
    assert (x[8], x[9]) == (1, 2)
    assert vm.engine.statistics()["tc_invalidations"] >= 1


def test_counters_in_results():
    from vmkit import lab
    result = lab.run("callret", "bt", iterations=20)
    for key in ("tc_fills", "tc_hits", "tc_callouts", "translated_instructions"):
        assert result.counters[key] > 0, key
    assert result.cycles["translate"] > 0
