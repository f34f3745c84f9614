# wfi_tw: wfi returns when an enabled (mie/sie) interrupt is pending even if globally disabled;
# mstatus.TW=1 makes wfi in S illegal; wfi in U is always illegal (S is implemented).
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
    li t1, 1 << IRQ_SSI             # SSI delegated to S and pending, sstatus.SIE = 0:
    csrw mideleg, t1                # pending + enabled in sie, so wfi cannot sleep
    csrw mie, t1
    csrs mip, t1
    wfi
    li s0, 1
    CHECK "wfi-m-returns", s0, 1
    GOTO_S
    wfi                             # TW = 0: allowed in S, returns (SSIP pending, SSIE set)
    li s1, 1
    ecall
    CHECK "wfi-s-tw0", s1, 1
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps", s0, 0
    li t1, MSTATUS_TW
    csrs mstatus, t1
    GOTO_S
    wfi
    ecall
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "wfi-s-tw1-cause", s0, 2
    LOADTR s0, mtrap, TR_TVAL
    CHECK "wfi-s-tw1-tval", s0, 0x10500073
    li t1, MSTATUS_TW
    csrc mstatus, t1
    csrci mip, 1 << IRQ_SSI         # in U, S interrupts are enabled whatever SIE: clear first
    GOTO_U
    wfi
    ecall
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "wfi-u-cause", s0, 2
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps-end", s0, 2
    TEST_END
