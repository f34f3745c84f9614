# illegal_insn: illegal-instruction exceptions (cause 2) and mtval = the faulting instruction
# bits (QEMU 7.2 and vmkit report the encoding, as the spec allows): all-zero word, an
# unimplemented opcode, a nonexistent CSR, privileged instructions from a lower mode.
.include "vmkit_test.inc"
# ILLEGAL name, label: check cause 2 and the recorded mtval
.macro CHECK_ILLEGAL name, bits
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "\name-cause", s0, 2
    LOADTR s0, mtrap, TR_TVAL
    CHECK "\name-tval", s0, \bits
.endm
main:
    SET_TVEC mtvec, mtrap_record
    .word 0x00000000                # all zeros is defined illegal
    CHECK_ILLEGAL "zero-word", 0
    .word 0xffffffff                # all ones: illegal
    CHECK_ILLEGAL "ones-word", 0xffffffff
    .word 0x00000053                # fadd.s: F is absent
    CHECK_ILLEGAL "fadd.s", 0x00000053
    csrr s1, 0x7ff                  # no CSR 0x7ff: csrrs s1, 0x7ff, x0 = 0x7ff024f3
    CHECK_ILLEGAL "csr-0x7ff", 0x7ff024f3
    GOTO_U
    mret                            # 0x30200073
    ecall
    CHECK_ILLEGAL "u-mret", 0x30200073
    GOTO_U
    sret                            # 0x10200073
    ecall
    CHECK_ILLEGAL "u-sret", 0x10200073
    GOTO_U
    csrr s1, sstatus                # csrrs s1, sstatus, x0 = 0x100024f3
    ecall
    CHECK_ILLEGAL "u-sstatus", 0x100024f3
    GOTO_S
    csrr s1, mstatus                # csrrs s1, mstatus, x0 = 0x300024f3
    ecall
    CHECK_ILLEGAL "s-mstatus", 0x300024f3
    GOTO_S
    mret
    ecall
    CHECK_ILLEGAL "s-mret", 0x30200073
    LOADTR s0, mtrap, TR_COUNT
    CHECK "count", s0, 9
    TEST_END
