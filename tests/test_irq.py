"""Guest interrupts (vmkit/vmm/irq.py): a PLIC at the QEMU `virt` address, the guest's external
interrupt line delivered by every engine, the UART's receive interrupt.

Each guest is one kernel written with priv.inc's macros, so the pv engine runs its PV build
(interrupts delivered through the shared page) and the others the native build. It takes
external interrupts in a wfi loop; the test raises them from Python between two `vm.run` calls
(the only time input can arrive). Expected values come from the PLIC's rules (plic.py: highest
priority first, only above the threshold) and from the privileged spec's masking (sie.SEIE,
sstatus.SIE); the same guest must give the same console, registers and CSRs everywhere.
"""

import pytest

from vmkit.asm import assemble
from vmkit.hw import csr as C
from vmkit.hw.devices import UART0_IRQ
from vmkit.hw.trap import LOAD_ACCESS_FAULT, STORE_ACCESS_FAULT
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.layout import GUEST_PLIC
from vmkit.vmm.vm import VirtualMachine

ENGINE_NAMES = sorted(ENGINES)
EVERYWHERE = [(engine, fast) for engine in ENGINE_NAMES for fast in (True, False)]

KERNEL = """
        .equ    PV, {pv}
        .include "priv.inc"
        .include "sbi.inc"
        .equ    PLIC, 0x0C000000
        .equ    PLIC_ENABLE1, PLIC + 0x2080        # enable words of context 1 (hart 0, S)
        .equ    PLIC_THRESHOLD1, PLIC + 0x201000
        .equ    PLIC_CLAIM1, PLIC + 0x201004
        .equ    UART, 0x10000000
        .equ    SIE_SEIE, 1 << 9
        .equ    SCAUSE_EXTERNAL, SCAUSE_INTERRUPT | 9
        .equ    EXPECTED, {expected}               # interrupts to take before shutting down

        .text
_start:
        la      sp, stack_top
        la      t0, handler
        priv_csrw stvec, t0
        li      s0, PLIC
        call    setup
        li      t0, SIE_SEIE
        priv_csrs sie, t0
{enable}
idle:   la      t0, count
        lw      t0, 0(t0)
        li      t1, EXPECTED
        bgeu    t0, t1, done
        priv_wfi
        j       idle
done:   sbi_shutdown SRST_SUCCESS
fail:   sbi_shutdown SRST_FAILURE

        .balign 4
handler:                                   # claim, on_irq(a0 = source), complete, count
        addi    sp, sp, -32
        sw      t0, 0(sp)
        sw      t1, 4(sp)
        sw      t2, 8(sp)
        sw      ra, 12(sp)
        sw      a0, 16(sp)
        sw      a1, 20(sp)
        sw      a6, 24(sp)
        sw      a7, 28(sp)
        priv_csrr t0, scause
        li      t1, SCAUSE_EXTERNAL
        bne     t0, t1, 1f
        li      t0, PLIC_CLAIM1
        lw      a0, 0(t0)
        call    on_irq
        li      t0, PLIC_CLAIM1
        sw      a0, 0(t0)
        j       2f
1:      call    not_external               # t0 = scause
2:      la      t0, count
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        lw      t0, 0(sp)
        lw      t1, 4(sp)
        lw      t2, 8(sp)
        lw      ra, 12(sp)
        lw      a0, 16(sp)
        lw      a1, 20(sp)
        lw      a6, 24(sp)
        lw      a7, 28(sp)
        addi    sp, sp, 32
        priv_sret

print_id:                                  # the UART prints a0 (0..99) as "NN "
        li      t2, 48
        mv      t1, a0
1:      li      t0, 10
        bltu    t1, t0, 2f
        addi    t1, t1, -10
        addi    t2, t2, 1
        j       1b
2:      li      t0, UART
        sb      t2, 0(t0)
        addi    t1, t1, 48
        sb      t1, 0(t0)
        li      t1, 32
        sb      t1, 0(t0)
        ret

{other}
{code}

        .data
count:  .word   0
        .bss
        .balign 16
        .space  1024
stack_top:
"""

# sstatus.SIE on: interrupts are taken as soon as they are pending.
INTERRUPTS_ON = "        li t0, SSTATUS_SIE\n        priv_csrs sstatus, t0"


def build(engine, code, expected, enable=INTERRUPTS_ON, other="not_external: j fail"):
    pv = int(ENGINES[engine].needs_pv_build)
    program = assemble(KERNEL.format(pv=pv, code=code, expected=expected, enable=enable,
                                     other=other), "irq.s")
    if pv:
        program.entry = program.symbols["pv_boot"]
    return program


def kernel(engine, code, expected, enable=INTERRUPTS_ON, fast=True, **more):
    return VirtualMachine(build(engine, code, expected, enable, **more), engine=engine,
                          fast=fast)


def observed(vm):
    """What must be equal under every engine running the same (native) build."""
    state = vm.engine.guest_state()
    return (bytes(vm.console), vm.counters.guest_instructions, vm.counters.interrupts_injected,
            state["x"], state["pc"], tuple(sorted(state["csrs"].items())))


def same_everywhere(results):
    """The native build's results agree; the pv build prints the same console."""
    builds = {key: value for key, value in results.items() if key[0] != "pv"}
    assert len(set(builds.values())) == 1, builds
    console = next(iter(builds.values()))[0]
    for key, value in results.items():
        assert value[0] == console, key


# -- raise, claim, complete -------------------------------------------------------------------

ONE_LINE = """
setup:  li      t0, 1                      # sources 5 and 7: priority 1, enabled for context 1
        sw      t0, 4*5(s0)
        sw      t0, 4*7(s0)
        li      t0, PLIC_ENABLE1
        li      t1, (1 << 5) | (1 << 7)
        sw      t1, 0(t0)
        ret
on_irq: j       print_id                   # a tail call: print_id returns to on_irq's caller
"""


@pytest.mark.parametrize("engine,fast", EVERYWHERE)
def test_raised_interrupt_is_claimed_and_completed(engine, fast):
    vm = kernel(engine, ONE_LINE, expected=3, fast=fast)
    assert vm.run(100_000).reason == "wfi"        # nothing can wake it yet
    before = vm.counters.guest_instructions
    assert vm.run(100_000).reason == "wfi" and vm.counters.guest_instructions == before
    for source in (5, 7):
        vm.raise_irq(source)
        stop = vm.run(100_000)
        assert stop.reason == "wfi", stop
    assert bytes(vm.console) == b"05 07 "
    vm.raise_irq(5)
    vm.lower_irq(5)                               # QEMU 7.2: the latched request stays
    stop = vm.run(100_000)
    assert stop.reason == "shutdown" and stop.code == 0, stop
    assert bytes(vm.console) == b"05 07 05 "
    assert vm.counters.interrupts_injected == 3
    assert not vm.plic.pending_context(1) and not any(vm.plic.claimed)


def test_raise_everywhere_gives_the_same_guest():
    results = {}
    for engine, fast in EVERYWHERE:
        vm = kernel(engine, ONE_LINE, expected=3, fast=fast)
        vm.run(100_000)
        for source in (7, 5, 7):
            vm.raise_irq(source)
            vm.run(100_000)
        assert vm.stop.reason == "shutdown", (engine, vm.stop)
        results[engine, fast] = observed(vm)
    same_everywhere(results)
    assert results["native", True][0] == b"07 05 07 "


def test_bad_source_is_refused():
    vm = kernel("hw", ONE_LINE, expected=1)
    for source in (0, 96, -1):
        with pytest.raises(ValueError, match="PLIC source"):
            vm.raise_irq(source)


# -- priorities and the threshold ---------------------------------------------------------------

PRIORITIES = """
setup:  li      t0, 2                      # 3: priority 2, 5: priority 5, 7: priority 1
        sw      t0, 4*3(s0)
        li      t0, 5
        sw      t0, 4*5(s0)
        li      t0, 1
        sw      t0, 4*7(s0)
        li      t0, PLIC_THRESHOLD1        # 7 does not interrupt: 1 is not above 1
        sw      t0, 0(t0)                  # (the address & 7 = 0 ...)
        li      t1, 9
        sw      t1, 0(t0)                  # ... then 9 & 7 = 1: the threshold is WARL
        li      t0, PLIC_ENABLE1
        li      t1, (1 << 3) | (1 << 5) | (1 << 7)
        sw      t1, 0(t0)
        ret
on_irq: addi    sp, sp, -4
        sw      ra, 0(sp)
        call    print_id
        la      t0, count                  # after the second one, lower the threshold to 0:
        lw      t0, 0(t0)                  # 7 becomes deliverable at that very store
        li      t1, 1
        bne     t0, t1, 1f
        li      t0, PLIC_THRESHOLD1
        sw      zero, 0(t0)
1:      lw      ra, 0(sp)
        addi    sp, sp, 4
        ret
"""


def test_priority_and_threshold_are_honoured():
    results = {}
    for engine, fast in EVERYWHERE:
        vm = kernel(engine, PRIORITIES, expected=3, fast=fast)
        assert vm.run(100_000).reason == "wfi"
        for source in (7, 3, 5):
            vm.raise_irq(source)
        stop = vm.run(100_000)
        assert stop.reason == "shutdown" and stop.code == 0, (engine, fast, stop)
        results[engine, fast] = observed(vm)
    same_everywhere(results)
    # Highest priority first; 7 only once the threshold dropped below its priority.
    assert results["native", True][0] == b"05 03 07 "


# -- masking --------------------------------------------------------------------------------------

MASKED = """
setup:  li      t0, 1
        sw      t0, 4*4(s0)
        li      t0, PLIC_ENABLE1
        li      t1, 1 << 4
        sw      t1, 0(t0)
        ret
on_irq: j       print_id                   # a tail call: print_id returns to on_irq's caller
"""
# Wait (wfi) until sip shows the external interrupt pending; s1 = sip then, s2 = the handler's
# count so far; print "P" (pending, not taken).
WAIT_PENDING = """
1:      priv_wfi
        csrr    s1, sip
        andi    t0, s1, SIE_SEIE
        beqz    t0, 1b
        la      t0, count
        lw      s2, 0(t0)
        li      t0, UART
        li      t1, 80                     # "P": pending, not taken
        sb      t1, 0(t0)
"""
# sie.SEIE is on, sstatus.SIE off: wfi wakes on the pending interrupt, which is not taken until
# the kernel sets SIE. s1 = sip seen after waking, s2 = 1 if the handler had run before SIE.
SIE_OFF = WAIT_PENDING + """
        priv_csrsi sstatus, SSTATUS_SIE    # sti: bt and pv look at their PENDING word
"""
# sstatus.SIE is on, sie.SEIE off: the same, unmasked by setting SEIE.
SEIE_OFF = """
        li      t0, SIE_SEIE
        priv_csrc sie, t0
""" + INTERRUPTS_ON + WAIT_PENDING + """
        li      t0, SIE_SEIE
        priv_csrs sie, t0
"""


@pytest.mark.parametrize("mask,early", [(SIE_OFF, False), (SEIE_OFF, False), (SIE_OFF, True)],
                         ids=["sstatus.SIE=0", "sie.SEIE=0", "sstatus.SIE=0, raised before"])
def test_masked_interrupt_waits_until_unmasked(mask, early):
    # early: the request is latched before the kernel enables its source, so the line rises
    # inside the run and the kernel's wfi finds it pending and enabled in sie: wfi must not
    # stop the VM then. (With sie.SEIE=0 such a wfi waits for ever, rightly: not tested.)
    results = {}
    for engine, fast in EVERYWHERE:
        vm = kernel(engine, MASKED, expected=1, enable=mask, fast=fast)
        if early:
            vm.raise_irq(4)
        else:
            assert vm.run(100_000).reason == "wfi"
            vm.raise_irq(4)
        stop = vm.run(100_000)
        assert stop.reason == "shutdown" and stop.code == 0, (engine, fast, stop)
        x = vm.engine.guest_state()["x"]
        assert x[9] & C.SEIP and x[18] == 0, (engine, fast)   # seen pending, not yet taken
        results[engine, fast] = observed(vm)
    same_everywhere(results)
    assert results["native", True][0] == b"P04 "


# -- external and timer interrupts pending together ---------------------------------------------

# sstatus.SIE off, the timer armed 200 ticks ahead, then a 600-instruction spin: the test raises
# source 4 during it (between two runs), and the timer fires in it. When SIE comes on both are
# pending: the external one is taken first (privileged spec 3.1.9: SEI before STI).
BOTH_PENDING = """
        li      t0, SIE_STIE
        priv_csrs sie, t0
        rdtime  t0
        addi    a0, t0, 200
        li      a1, 0
        sbi_call SBI_TIME, 0
        li      t0, 300
1:      addi    t0, t0, -1
        bnez    t0, 1b
        priv_csrsi sstatus, SSTATUS_SIE
"""
TIMER = """
not_external:                              # the timer: print "T", disarm it
        li      t1, SCAUSE_TIMER
        bne     t0, t1, fail
        li      t0, UART
        li      t1, 84
        sb      t1, 0(t0)
        li      a0, -1
        li      a1, -1
        sbi_call SBI_TIME, 0
        ret
"""


def test_external_interrupt_before_the_timer():
    results = {}
    for engine, fast in EVERYWHERE:
        vm = kernel(engine, MASKED, expected=2, enable=BOTH_PENDING, other=TIMER, fast=fast)
        assert vm.run(200).reason == "budget"    # in the spin: the timer is not due yet
        assert not vm.timer_raised, engine
        vm.raise_irq(4)
        stop = vm.run(100_000)
        assert stop.reason == "shutdown" and stop.code == 0, (engine, fast, stop)
        assert vm.counters.interrupts_injected == 2
        results[engine, fast] = observed(vm)
    same_everywhere(results)
    assert results["native", True][0] == b"04 T"


# -- the UART's receive interrupt ---------------------------------------------------------------

UART_ECHO = """
setup:  li      t0, UART                   # IER: received-data interrupt
        li      t1, 1
        sb      t1, 1(t0)
        li      t0, 1
        sw      t0, 4*{irq}(s0)
        li      t0, PLIC_ENABLE1
        li      t1, 1 << {irq}
        sw      t1, 0(t0)
        ret
on_irq: li      t0, {irq}                  # echo every byte received; "q" ends it
        bne     a0, t0, fail
        li      t0, UART
1:      lbu     t1, 5(t0)                  # LSR.DR: a byte is there
        andi    t1, t1, 1
        beqz    t1, 2f
        lbu     t1, 0(t0)
        sb      t1, 0(t0)
        li      t2, 113
        bne     t1, t2, 1b
        la      t1, count
        li      t2, EXPECTED
        sw      t2, 0(t1)
        j       1b
2:      ret
""".replace("{irq}", str(UART0_IRQ))


def test_uart_input_interrupts_the_guest():
    results = {}
    for engine, fast in EVERYWHERE:
        vm = kernel(engine, UART_ECHO, expected=1000, fast=fast)
        assert vm.run(100_000).reason == "wfi"
        vm.uart.feed(b"hi")
        assert vm.run(100_000).reason == "wfi"
        assert bytes(vm.console) == b"hi", (engine, fast)
        vm.uart.feed(b"there, q")
        stop = vm.run(100_000)
        assert stop.reason == "shutdown" and stop.code == 0, (engine, fast, stop)
        results[engine, fast] = observed(vm)
    same_everywhere(results)
    assert results["native", True][0] == b"hithere, q"


def test_native_guest_reaches_the_host_plic_itself():
    # Under native guest-physical = host-physical: the kernel programs the PLIC on the host
    # bus, with no exit, and the hart's mip.SEIP is that PLIC's S context.
    vm = kernel("native", UART_ECHO, expected=1000)
    vm.run(100_000)
    bus, hart = vm.engine.machine.bus, vm.engine.hart
    # IER, priority, enable: three device accesses, none of them an exit
    assert "mmio" not in vm.counters.exits and vm.counters.direct_device_accesses == 3
    assert bus.load(GUEST_PLIC + 4 * UART0_IRQ, 4) == 1
    assert bus.load(GUEST_PLIC + 0x2080, 4) == 1 << UART0_IRQ
    assert not hart.read_mip() & C.SEIP
    vm.uart.feed(b"x")
    assert hart.read_mip() & C.SEIP and bus.load(GUEST_PLIC + 0x1000, 4) == 1 << UART0_IRQ
    vm.run(100_000)
    assert bytes(vm.console) == b"x" and not hart.read_mip() & C.SEIP


# -- a hostile guest at the PLIC ------------------------------------------------------------------

# Each access's result goes to the next word of `log`; a faulting one logs its scause and
# stval instead (the handler skips it). Then the kernel waits with interrupts on.
HOSTILE = """
setup:  addi    sp, sp, -4
        sw      ra, 0(sp)
        la      t0, fault
        priv_csrw stvec, t0
        la      s1, log
        li      t1, -1
        li      t0, PLIC + 0x2000          # M context: every source enabled
        sw      t1, 0(t0)
        sw      t1, 4(t0)
        li      t0, PLIC + 0x200000        # M context: threshold 0, then claim
        sw      zero, 0(t0)
        lw      t2, 4(t0)
        call    log_t2
        li      t0, 1                      # source 6: priority 1 (enabled for M only)
        sw      t0, 4*6(s0)
        li      t0, PLIC + 0x1000          # the pending word is read only
        sw      t1, 0(t0)
        lw      t2, 0(t0)
        call    log_t2
        li      t0, PLIC + 0x202000        # a context that does not exist: a hole
        sw      t1, 0(t0)
        lw      t2, 0(t0)
        call    log_t2
        li      t0, PLIC + 0x400000        # inside the PLIC, past its registers: a hole
        sw      t1, 0(t0)
        lw      t2, 0(t0)
        call    log_t2
        lb      t2, 4(s0)                  # a byte: access fault
        call    log_t2
        sh      t1, 4(s0)                  # a halfword: store access fault
        lw      t2, 2(s0)                  # misaligned: access fault
        call    log_t2
        li      t0, PLIC + 0x600000        # past the PLIC: nothing there
        lw      t2, 0(t0)
        call    log_t2
        li      t0, PLIC + 0x7FFFFC
        sw      t1, 0(t0)
        la      t0, handler
        priv_csrw stvec, t0
        lw      ra, 0(sp)
        addi    sp, sp, 4
        ret
log_t2: sw      t2, 0(s1)
        addi    s1, s1, 4
        ret
        .balign 4
fault:  priv_csrr t2, scause
        sw      t2, 0(s1)
        priv_csrr t2, stval
        sw      t2, 4(s1)
        addi    s1, s1, 8
        li      t2, -1
        priv_csrr t0, sepc
        addi    t0, t0, 4
        priv_csrw sepc, t0
        priv_sret
on_irq: j       fail
        .data
log:    .space  128
"""


def test_hostile_plic_accesses_fault_or_are_ignored():
    results = {}
    for engine, fast in EVERYWHERE:
        vm = kernel(engine, HOSTILE, expected=1, fast=fast)
        stop = vm.run(100_000)
        assert stop.reason == "wfi", (engine, fast, stop)
        base = build(engine, HOSTILE, expected=1).symbols["log"]
        words = [int.from_bytes(vm.read_guest(base + 4 * i, 4), "little") for i in range(17)]
        plic = GUEST_PLIC
        assert words == [
            0,                                  # M-context claim: nothing pending
            0,                                  # pending word: the store changed nothing
            0, 0,                               # holes read 0
            LOAD_ACCESS_FAULT, plic + 4, 0xFFFFFFFF,         # lb
            STORE_ACCESS_FAULT, plic + 4,                    # sh
            LOAD_ACCESS_FAULT, plic + 2, 0xFFFFFFFF,         # misaligned lw
            LOAD_ACCESS_FAULT, plic + 0x600000, 0xFFFFFFFF,  # past the PLIC
            STORE_ACCESS_FAULT, plic + 0x7FFFFC], (engine, fast, [hex(w) for w in words])
        # Source 6, enabled only for the M context, never reaches the guest (nor the VMM).
        vm.raise_irq(6)
        assert vm.plic.pending_context(0) and not vm.plic.pending_context(1)
        before = vm.counters.guest_instructions
        assert vm.run(100_000).reason == "wfi" and vm.counters.guest_instructions == before
        assert vm.counters.interrupts_injected == 0 and vm.failure is None
        if engine != "native":                  # the host's own PLIC never saw the guest
            host = vm.engine.machine.plic
            assert not any(host.pending) and host.enable == [[0] * 3, [0] * 3]
        results[engine, fast] = observed(vm)
    same_everywhere(results)
