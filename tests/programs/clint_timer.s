# clint_timer: CLINT mtime/mtimecmp drive mip.MTIP (bit 7) level-sensitively: pending while
# mtime >= mtimecmp. Taken with mie.MTIE and mstatus.MIE (mcause 0x80000007, mtval 0); wfi
# wakes on it even with MIE = 0. Absolute times are never printed.
.include "vmkit_test.inc"
# mtimecmp = 0xffffffff_ffffffff (never): write hi first so the pair never passes below mtime.
.macro TIMER_OFF
    li t1, CLINT_MTIMECMP
    li t2, -1
    sw t2, 4(t1)
    sw t2, 0(t1)
.endm
main:
    SET_TVEC mtvec, mtrap_record
    TIMER_OFF
    csrr s0, mip
    andi s0, s0, 1 << IRQ_MTI
    CHECK "mtip-off", s0, 0
    li t1, CLINT_MTIMECMP           # mtimecmp = 0: already reached
    sw zero, 0(t1)
    sw zero, 4(t1)
    csrr s0, mip
    andi s0, s0, 1 << IRQ_MTI
    CHECK "mtip-on", s0, 0x80
    csrw mip, zero                  # MTIP is read-only in mip: still pending
    csrr s0, mip
    andi s0, s0, 1 << IRQ_MTI
    CHECK "mtip-readonly", s0, 0x80
    li t1, 1 << IRQ_MTI
    csrs mie, t1
    csrsi mstatus, MSTATUS_MIE      # taken right here; the handler masks MTIE
    nop
    csrci mstatus, MSTATUS_MIE
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "mcause", s0, 0x80000007
    LOADTR s0, mtrap, TR_TVAL
    CHECK "mtval", s0, 0
    csrr s0, mie
    CHECK "mie-masked-by-handler", s0, 0
    li t1, CLINT_MTIME              # mtimecmp = mtime + 1000000 (0.1 s at 10 MHz), 64-bit add
1:  lw t2, 4(t1)                    # consistent 64-bit read: hi, lo, hi again
    lw s2, 0(t1)
    lw s3, 4(t1)
    bne t2, s3, 1b
    li t1, 1000000
    add s4, s2, t1
    sltu t1, s4, s2                 # carry
    add s3, s3, t1
    TIMER_OFF
    li t1, CLINT_MTIMECMP
    sw s4, 0(t1)
    sw s3, 4(t1)
    csrr s0, mip                    # not yet (0.1 s away: a few instructions later)
    andi s0, s0, 1 << IRQ_MTI
    CHECK "mtip-before", s0, 0
    li t1, 1 << IRQ_MTI
    csrs mie, t1
    wfi                             # MIE = 0: wakes without trapping
    csrr s0, mip
    andi s0, s0, 1 << IRQ_MTI
    CHECK "mtip-after-wfi", s0, 0x80
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps-before-mie", s0, 1
    csrsi mstatus, MSTATUS_MIE
    nop
    csrci mstatus, MSTATUS_MIE
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps-after-mie", s0, 2
    TIMER_OFF                       # writing mtimecmp clears MTIP
    csrr s0, mip
    andi s0, s0, 1 << IRQ_MTI
    CHECK "mtip-cleared", s0, 0
    TEST_END
