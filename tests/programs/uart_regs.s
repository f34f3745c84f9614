# uart_regs: NS16550A register file: LCR read-back and DLAB (divisor latch DLL/DLM at offsets
# 0/1 while LCR bit 7 is set), SCR scratch, IER (4 bits), LSR idle value 0x60 (THRE | TEMT, no
# data ready), IIR 0x01 (none) / 0x02 (THR empty, cleared by reading IIR), MCR read-back.
.include "vmkit_test.inc"
main:
    li s1, UART0
    lbu s0, 5(s1)
    CHECK "lsr-idle", s0, 0x60
    lbu s0, 2(s1)
    CHECK "iir-idle", s0, 0x01
    li t1, 0x83                     # DLAB = 1, 8N1
    sb t1, 3(s1)
    li t1, 0x0c
    sb t1, 0(s1)                    # DLL
    li t1, 0x01
    sb t1, 1(s1)                    # DLM
    lbu s2, 0(s1)
    lbu s3, 1(s1)
    lbu s4, 3(s1)
    li t1, 0x03                     # DLAB = 0 again: offsets 0/1 are data/IER
    sb t1, 3(s1)
    CHECK "dll", s2, 0x0c
    CHECK "dlm", s3, 0x01
    CHECK "lcr-dlab", s4, 0x83
    lbu s0, 3(s1)
    CHECK "lcr", s0, 0x03
    lbu s0, 1(s1)                   # IER unchanged by the DLM write
    CHECK "ier", s0, 0
    li t1, 0x5a
    sb t1, 7(s1)
    lbu s0, 7(s1)
    CHECK "scr", s0, 0x5a
    li t1, 0xa5
    sb t1, 7(s1)
    lbu s0, 7(s1)
    CHECK "scr2", s0, 0xa5
    li t1, 0xff                     # IER keeps 4 bits
    sb t1, 1(s1)
    lbu s2, 1(s1)
    lbu s3, 2(s1)                   # THR empty + ETBEI: IIR = 0x02
    lbu s4, 2(s1)                   # read cleared it: 0x01
    sb zero, 1(s1)
    CHECK "ier-mask", s2, 0x0f
    CHECK "iir-thri", s3, 0x02
    CHECK "iir-after-read", s4, 0x01
    li t1, 0x0b                     # MCR: DTR | RTS | OUT2 (no loopback)
    sb t1, 4(s1)
    lbu s0, 4(s1)
    CHECK "mcr", s0, 0x0b
    sb zero, 4(s1)
    lbu s0, 5(s1)
    CHECK "lsr-end", s0, 0x60
    TEST_END
