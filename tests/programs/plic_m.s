# plic_m: the UART's THR-empty interrupt (IER.ETBEI) is PLIC source 10. Context 0 is hart 0
# M-mode: priority / enable / threshold gate mip.MEIP; taken as mcause 0x8000000b; claim returns
# 10 and clears the pending bit; complete re-arms the source. Values are sampled into
# s-registers before printing, because printing itself makes the THR empty again.
.include "vmkit_test.inc"
    .equ CTX0_ENABLE, PLIC_ENABLE
    .equ CTX0_THRESHOLD, PLIC_CTX
    .equ CTX0_CLAIM, PLIC_CTX + 4
main:
    SET_TVEC mtvec, mtrap_record
    li s1, PLIC
    li t1, 7                        # priority[10] = 7: readback shows the implemented bits
    sw t1, 4 * UART_IRQ(s1)
    lw s0, 4 * UART_IRQ(s1)
    CHECK "priority-readback", s0, 7
    li t1, 1
    sw t1, 4 * UART_IRQ(s1)
    li t1, 1 << UART_IRQ
    li t2, CTX0_ENABLE
    sw t1, 0(t2)
    lw s0, 0(t2)
    CHECK "enable-readback", s0, 0x400
    li t2, CTX0_THRESHOLD
    li t1, 1                        # threshold 1: priority 1 is not above it
    sw t1, 0(t2)
    li t1, UART0
    li t2, 0x02                     # IER.ETBEI: THR is empty -> interrupt pending
    sb t2, 1(t1)
    csrr s2, mip
    li t1, PLIC_PENDING
    lw s3, 0(t1)
    li t2, CTX0_THRESHOLD
    sw zero, 0(t2)                  # threshold 0: now delivered
    csrr s4, mip
    li t1, 1 << IRQ_MEI
    csrs mie, t1
    csrsi mstatus, MSTATUS_MIE
    nop
    csrci mstatus, MSTATUS_MIE
    li t1, CTX0_CLAIM
    lw s5, 0(t1)                    # claim
    li t1, PLIC_PENDING
    lw s6, 0(t1)                    # claimed: no longer pending
    csrr s7, mip
    li t1, UART0
    lbu s8, 2(t1)                   # IIR = 0x02 (THR empty); reading it clears the cause
    lbu s9, 2(t1)                   # IIR = 0x01: nothing pending
    sb zero, 1(t1)                  # IER = 0
    li t1, CTX0_CLAIM
    li t2, UART_IRQ
    sw t2, 0(t1)                    # complete
    lw s10, 0(t1)                   # nothing to claim: 0
    li t1, 1 << IRQ_MEI
    and s0, s2, t1
    CHECK "meip-threshold1", s0, 0
    andi s0, s3, 1 << UART_IRQ
    CHECK "pending-threshold1", s0, 0x400
    li t1, 1 << IRQ_MEI
    and s0, s4, t1
    CHECK "meip-threshold0", s0, 0x800
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "mcause", s0, 0x8000000b
    CHECK "claim", s5, 10
    andi s0, s6, 1 << UART_IRQ
    CHECK "pending-after-claim", s0, 0
    li t1, 1 << IRQ_MEI
    and s0, s7, t1
    CHECK "meip-after-claim", s0, 0
    CHECK "iir-thri", s8, 0x02
    CHECK "iir-none", s9, 0x01
    CHECK "claim-empty", s10, 0
    li t1, UART0                    # priority 0 never interrupts
    sw zero, 4 * UART_IRQ(s1)
    li t2, 0x02
    sb t2, 1(t1)
    csrr s2, mip
    sb zero, 1(t1)
    li t1, 1 << IRQ_MEI
    and s0, s2, t1
    CHECK "meip-priority0", s0, 0
    TEST_END
