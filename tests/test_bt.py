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


# --- calls and returns: direct calls, the return cache --------------------------------------

CALLS = """
        .text
        .globl _start
_start: la      t0, handler
        csrw    stvec, t0
        la      sp, stack_top
        li      s2, 0                   # a sum of what ran: each step adds its own amount
        li      a0, 10                  # 1. recursion: ten return addresses live at once
        call    fact
        mv      s3, a0
        li      s4, 6                   # 2. one ret (inc's), two return pcs in turn
1:      call    site_a
        call    site_b
        addi    s4, s4, -1
        bnez    s4, 1b
        call    escape                  # 3. a function that returns elsewhere (longjmp)
        addi    s2, s2, 1000
landed: addi    s2, s2, 7
        la      ra, odd_back            # 4. ret to ra + 1: jalr clears bit 0
        addi    ra, ra, 1
        ret
        addi    s2, s2, 1000
odd_back:
        addi    s2, s2, 11
        la      ra, misaligned_back     #    ret to ra + 2: instruction-address-misaligned
        addi    ra, ra, 2
        ret
misaligned_back:
        addi    s2, s2, 1000
after_fault:
        call    tailer                  # 5. a tail call, an indirect call, a direct call
        la      t0, leaf
        jalr    ra, 0(t0)
        call    leaf
        li      t1, 0x80001237          # 6. plain CSRs: sepc drops its low two bits
        csrw    sepc, t1
        csrr    s5, sepc
        csrw    sscratch, t1
        csrr    s6, sscratch
        csrrw   s7, sscratch, s2        #    a swap (a callout)
        csrr    s8, sscratch
        li      a7, 0x53525354
        li      a6, 0
        li      a0, 0
        li      a1, 0
        ecall
fact:   li      t0, 1
        ble     a0, t0, 2f
        addi    sp, sp, -16
        sw      ra, 12(sp)
        sw      a0, 8(sp)
        addi    a0, a0, -1
        call    fact
        lw      t0, 8(sp)
        mul     a0, a0, t0
        lw      ra, 12(sp)
        addi    sp, sp, 16
2:      ret
escape: la      ra, landed
        ret
tailer: addi    s2, s2, 100
        tail    leaf
leaf:   addi    s2, s2, 1
        ret
handler:
        csrr    s9, scause
        csrr    s10, stval
        la      t0, after_fault
        csrw    sepc, t0
        sret
        .balign 0x200
site_a: addi    s2, s2, 2
        mv      s11, ra
        call    inc
        mv      ra, s11
        ret
        .balign 0x200
        .space  0x200
site_b: addi    s2, s2, 3
        mv      s11, ra
        call    inc
        mv      ra, s11
        ret
inc:    addi    s2, s2, 0x10
        ret
        .data
        .balign 16
        .space  1024
stack_top:
"""


def test_calls_and_returns_behave_as_on_the_hardware():
    program = assemble(CALLS)
    sym = program.symbols
    results = {}
    for engine in ("native", "trap", "bt"):
        vm = VirtualMachine(program, engine=engine)
        stop = vm.run(100_000)
        assert stop.reason == "shutdown", engine
        state = vm.engine.guest_state()
        results[engine] = (vm.counters.guest_instructions, state)
    assert results["bt"] == results["native"] == results["trap"]
    x = results["bt"][1]["x"]
    # 6 x (2 + 16 + 3 + 16) + 7 + 11 + 100 + 1 + 1 + 1 = 343: no step ran twice or was lost.
    assert x[18] == 343
    assert x[19] == 3628800                                   # 10!
    assert (x[21], x[22], x[23], x[24]) == (0x80001234, 0x80001237, 0x80001237, 343)
    assert (x[25], x[26]) == (0, sym["misaligned_back"] + 2)   # cause 0, stval = target


def per_iteration(workload, key, engine="bt"):
    from vmkit import lab
    small, large = (lab.run(workload, engine, iterations=n) for n in (200, 400))
    return (large.counters[key] - small.counters[key]) / 200


def test_a_call_ret_loop_runs_from_the_cache_without_callouts():
    # Each `ret` compares ra with the return pc its inline cache holds: after warming up,
    # more iterations add no callout and no lookup by the VMM.
    assert per_iteration("callret", "tc_callouts") == 0
    assert per_iteration("callret", "tc_hits") == 0
    program = guest.build("callret", iterations=5)
    vm, _ = run(program)
    rows = vm.engine.describe_block(program.symbols["empty"])
    ret = " ".join(h for _, text, host in rows if text == "ret" for _, h in host)
    # The cached pcs are code (lui, addi), not data the guest could write: no load, no jr.
    assert "lui\tt6" in ret and "beq\tt6,ra" in ret and "bne\tt6,ra" in ret
    assert "lw" not in ret and "jr" not in ret


def test_a_satp_write_is_the_slides_handle_cr3_callout():
    """The lecture's row `mov cr3 -> call HANDLE_CR3`: the paging kernel's satp write ends its
    block in a callout that switches shadow page tables; sfence.vma is another (invlpg)."""
    program = guest.build("ctxswitch", iterations=3)
    vm, stop = run(program)
    assert stop.reason == "shutdown"
    texts, notes = set(), set()          # guest instructions; the exit stubs' callouts
    for block in list(vm.engine.blocks.values()):
        for guest_pc, text, host in vm.engine.describe_block(block.gpc):
            texts.add(text)
            notes.update(h.split("# ")[1] for _, h in host if "# callout" in h)
    assert any(text.startswith("csrw\tsatp,") for text in texts) and "sfence.vma" in texts
    assert "callout: HANDLE_CR3: switch shadow page tables (x86: mov cr3)" in notes
    assert "callout: HANDLE_INVLPG: drop shadow entries (x86: invlpg)" in notes
    assert "callout: emulate sret" in notes
    assert vm.engine.statistics()["shadow_switches"] > 3


def test_translated_code_is_counted_in_host_instructions():
    # The cli/sti loop, from the slide: block prologue (sw, lw, addi, bltz, sw, lw = 6),
    # cli (1), sti (sw, li, sw, lw, bnez, lw = 6), addi, bnez and the chained j: 16 host
    # instructions for the 4 guest instructions of an iteration.
    assert per_iteration("csr", "tc_host_instructions") == 16
    assert per_iteration("csr", "tc_guest_instructions") == 4
    # call/ret: one block from the loop head through the callee's ret (the call does not end
    # it): prologue 6, li ra 2, the ret's inline cache, first way (sw t6; lui, addi; beq) 4:
    # 12. The hit stub jumps (1) past the first word of the next block (addi, bnez): its
    # prologue less that word, 5, addi, bnez, j back: 8.
    assert per_iteration("callret", "tc_host_instructions") == 12 + 1 + 8
    # The guest's instruction count stays exact (5 per iteration, as natively).
    assert per_iteration("callret", "guest_instructions") == 5
    assert per_iteration("callret", "guest_instructions", "native") == 5


def test_plain_csrs_are_loads_and_stores_of_the_vcpu_page():
    program = guest.build("syscall", iterations=5)
    vm, stop = run(program)
    assert stop.reason == "shutdown"
    rows = vm.engine.describe_block(program.symbols["trap_vector"])
    by_text = {text: [h for _, h in host] for _, text, host in rows}
    assert by_text["csrw\tsscratch,t1"] == ["sw\tt1,-2032(zero) # fffff810"]
    assert by_text["csrr\tt1,scause"] == ["lw\tt1,-2024(zero) # fffff818"]


def test_a_lookup_inside_a_callout_is_not_counted_again():
    # A syscall under bt: the ecall exits (the VMM reflects it and looks up the kernel's
    # trap vector: one TC lookup of its own); the handler's CSR accesses run inline; its
    # sret is one callout, whose price includes finding where to go on.
    assert per_iteration("syscall", "tc_callouts") == 1
    assert per_iteration("syscall", "tc_hits") == 1
    assert per_iteration("syscall", "emulated_instructions") == 1
    # The illegal instruction of trapinsn is a callout that reflects it into the kernel; the
    # handler's sret another; going on after each is the callout's work, not a lookup.
    assert per_iteration("trapinsn", "tc_callouts") == 2
    assert per_iteration("trapinsn", "tc_hits") == 0


def guest_view(engine):
    """guest_state, with a pc at a block's entry in the TC (a run may stop between two
    blocks, the next one already found) read as the guest pc it stands for, as the
    widgets' CPU view reads it."""
    state = engine.guest_state()
    if engine.name == "bt" and engine.in_tc(state["pc"]):
        entries = {block.tc: block.gpc for block in engine.blocks.values()}
        state["pc"] = entries[state["pc"]]
    return state


def test_stopping_after_any_instruction_looks_like_the_hardware():
    # Guest time is exact inside superblocks and across returns from the cache: stopped after
    # any number of instructions, bt shows the same registers, pc and CSRs as the hart running
    # natively. Slices of 25 instructions (long enough for whole blocks), from each start
    # 1..25, reach every count.
    program = assemble(CALLS)
    counts = set()
    for first in range(1, 26):
        native, bt = (VirtualMachine(program, engine=e) for e in ("native", "bt"))
        stops = native.run(first), bt.run(first)
        while native.stop is None:
            assert stops[0] == stops[1]
            count = native.counters.guest_instructions
            assert bt.counters.guest_instructions == count
            assert guest_view(bt.engine) == guest_view(native.engine), count
            counts.add(count)
            stops = native.run(25), bt.run(25)
        assert stops[0] == stops[1] and stops[0].reason == "shutdown"
    assert counts == set(range(1, native.counters.guest_instructions))
