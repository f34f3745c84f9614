# plic_s: context 1 of the PLIC is hart 0 S-mode: it drives mip.SEIP (bit 9). With
# mideleg.SEI the UART interrupt (source 10) traps to S (scause 0x80000009); S claims 10 from
# its context and completes. Context 0 (M) has the source disabled, so MEIP stays 0.
.include "vmkit_test.inc"
    .equ CTX1_ENABLE, PLIC_ENABLE + 0x80
    .equ CTX1_THRESHOLD, PLIC_CTX + 0x1000
    .equ CTX1_CLAIM, PLIC_CTX + 0x1004
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, strap_record
    li t1, 1 << IRQ_SEI
    csrw mideleg, t1
    csrw mie, t1
    li s1, PLIC
    li t1, 2
    sw t1, 4 * UART_IRQ(s1)
    li t2, PLIC_ENABLE              # context 0 (M): disabled
    sw zero, 0(t2)
    li t1, 1 << UART_IRQ
    li t2, CTX1_ENABLE
    sw t1, 0(t2)
    li t2, CTX1_THRESHOLD
    li t1, 1
    sw t1, 0(t2)
    lw s0, 0(t2)
    CHECK "threshold-readback", s0, 1
    GOTO_S
    li t1, UART0
    li t2, 0x02
    sb t2, 1(t1)                    # THR-empty interrupt on
    csrr s2, sip
    csrsi sstatus, MSTATUS_SIE
    nop
    csrci sstatus, MSTATUS_SIE
    li t1, CTX1_CLAIM
    lw s4, 0(t1)
    li t1, UART0
    sb zero, 1(t1)                  # IER = 0: the source drops
    li t1, CTX1_CLAIM
    li t2, UART_IRQ
    sw t2, 0(t1)                    # complete
    csrr s5, sip
    li t1, 1 << IRQ_SEI
    and s0, s2, t1
    CHECK "sip-seip", s0, 0x200
    LOADTR s0, strap, TR_CAUSE
    CHECK "scause", s0, 0x80000009
    LOADTR s0, strap, TR_TVAL
    CHECK "stval", s0, 0
    CHECK "s-claim", s4, 10
    li t1, 1 << IRQ_SEI
    and s0, s5, t1
    CHECK "sip-after-complete", s0, 0
    ecall
    li t1, PLIC_CTX + 4             # context 0 (M) has nothing to claim
    lw s0, 0(t1)
    CHECK "m-claim", s0, 0
    TEST_END
