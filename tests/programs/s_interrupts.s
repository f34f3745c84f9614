# s_interrupts: supervisor timer/software interrupts. M sets mip.STIP (no Sstc: STIP is
# writable by M only); with mideleg.STI they trap to S (scause 0x80000005); S sets sip.SSIP
# itself (scause 0x80000001), or M sets mip.SSIP for it. In U, S interrupts are enabled
# regardless of sstatus.SIE.
# Without delegation the same bits trap to M.
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, strap_record
    li t1, (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI)
    csrw mideleg, t1
    csrr s0, mideleg
    CHECK "mideleg", s0, 0x1666     # + VSSI/VSTI/VSEI/SGEI: read-only one with H
    li t1, 1 << IRQ_STI
    csrs mip, t1
    csrr s0, mip
    andi s0, s0, 0x222              # (MTIP may be pending: mtimecmp resets to 0)
    CHECK "mip-stip", s0, 0x20
    csrr s0, sip                    # sip shows delegated bits of mip
    CHECK "sip-stip", s0, 0x20
    li t1, (1 << IRQ_SSI) | (1 << IRQ_STI)
    csrw mie, t1
    GOTO_S
    csrr s0, sie                    # sie = mie & mideleg
    CHECK "sie", s0, 0x22
    li t1, 1 << IRQ_STI
    csrs sip, t1                    # S cannot set STIP
    LOADTR s0, strap, TR_COUNT
    CHECK "before-sie", s0, 0
    csrsi sstatus, MSTATUS_SIE      # STIP taken in S
    nop
    csrci sstatus, MSTATUS_SIE
    LOADTR s0, strap, TR_CAUSE
    CHECK "stip-scause", s0, 0x80000005
    LOADTR s0, strap, TR_STATUS
    andi s0, s0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    CHECK "stip-sstatus", s0, 0x120
    csrsi sip, 1 << IRQ_SSI         # S raises its own software interrupt
    csrr s0, sip
    CHECK "sip-both", s0, 0x22
    csrsi sstatus, MSTATUS_SIE
    nop
    csrci sstatus, MSTATUS_SIE
    LOADTR s0, strap, TR_CAUSE
    CHECK "ssip-scause", s0, 0x80000001
    csrci sip, 1 << IRQ_SSI
    csrr s0, sip
    CHECK "sip-after-clear", s0, 0x20
    li t1, 1 << IRQ_STI             # U: taken although SIE = 0
    csrs sie, t1
    ecall                           # to M to enter U
    GOTO_U
    nop
    ecall                           # delegated? no: ecall goes to M (medeleg = 0)
    LOADTR s0, strap, TR_COUNT
    CHECK "u-taken", s0, 3
    LOADTR s0, strap, TR_STATUS
    andi s0, s0, MSTATUS_SPP
    CHECK "u-spp", s0, 0
    csrw mideleg, zero              # no delegation: STIP goes to M, even from S with SIE = 0
    li t1, 1 << IRQ_STI
    csrs mie, t1
    GOTO_S
    nop
    ecall
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "undelegated-mcause", s0, 0x80000005
    li t1, 1 << IRQ_STI
    csrc mip, t1
    li t1, 1 << IRQ_SSI             # M raises SSIP for S (as SBI does), delegated again
    csrw mideleg, t1
    csrw mie, t1
    csrs mip, t1
    GOTO_S
    csrsi sstatus, MSTATUS_SIE
    nop
    csrci sstatus, MSTATUS_SIE
    csrci sip, 1 << IRQ_SSI         # S acknowledges it
    ecall
    LOADTR s0, strap, TR_CAUSE
    CHECK "m-set-ssip-scause", s0, 0x80000001
    csrr s0, mip
    andi s0, s0, 0x222
    CHECK "mip-end", s0, 0
    TEST_END
