# medeleg: exceptions whose medeleg bit is set trap to S (scause/stval/sepc, sstatus.SPP and
# SPIE/SIE updates, mstatus untouched); others still trap to M. Delegated: 2 (illegal),
# 3 (breakpoint), 8 (ecall from U). Not delegated: 9 (ecall from S) -> M.
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, strap_record
    li t1, (1 << 2) | (1 << 3) | (1 << 8)
    csrw medeleg, t1
    csrr s0, medeleg
    CHECK "medeleg", s0, 0x10c
    GOTO_S                          # satp is bare: S can print
    csrsi sstatus, MSTATUS_SIE      # SIE=1 before the trap -> SPIE=1, SIE=0 in the handler
1:  csrr s1, mstatus                # illegal in S, delegated: handled in S
    csrci sstatus, MSTATUS_SIE
    LOADTR s0, strap, TR_CAUSE
    CHECK "s-illegal-scause", s0, 2
    LOADTR s0, strap, TR_TVAL       # csrrs s1, mstatus, x0
    CHECK "s-illegal-stval", s0, 0x300024f3
    LOADTR s0, strap, TR_EPC
    la s1, 1b
    sub s0, s0, s1
    CHECK "s-illegal-sepc-offset", s0, 0
    LOADTR s0, strap, TR_STATUS
    andi s0, s0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    CHECK "s-illegal-spp-spie-sie", s0, 0x120
    ebreak
    LOADTR s0, strap, TR_CAUSE
    CHECK "s-ebreak-scause", s0, 3
    LOADTR s0, strap, TR_COUNT
    CHECK "strap-count", s0, 2
    LOADTR s0, mtrap, TR_COUNT
    CHECK "mtrap-count", s0, 0
    ecall                           # cause 9 is not delegated: M (GOTO_M)
    LOADTR s0, mecall, TR_CAUSE
    CHECK "s-ecall-to-m", s0, 9
    GOTO_U
    ecall                           # delegated: S handler, which continues in S
    LOADTR s0, strap, TR_CAUSE
    CHECK "u-ecall-scause", s0, 8
    LOADTR s0, strap, TR_STATUS
    andi s0, s0, MSTATUS_SPP
    CHECK "u-ecall-spp", s0, 0
    csrr s0, sstatus                # now in S (SPP set by the handler, sret cleared it)
    andi s0, s0, MSTATUS_SPP
    CHECK "in-s-after-sret-spp", s0, 0
    ecall
    li t1, (1 << 11)                # bit 11 (ecall from M): the spec says it "should" be
    csrs medeleg, t1                # read-only 0; QEMU 7.2 keeps it writable (and M-mode
    csrr s0, medeleg                # traps never delegate anyway)
    CHECK "medeleg-bit11", s0, 0x90c
    TEST_END
