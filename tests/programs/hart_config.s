# hart_config: the hart is RV32 with exactly I, M, A, S, U, H (the -cpu options of corpus.py).
.include "vmkit_test.inc"
main:
    addi sp, sp, -16
    sw ra, 12(sp)
    # misa: MXL=1 (RV32) in bits 31:30, extension letters A(0) H(7) I(8) M(12) S(18) U(20):
    # 0x40000000 | 0x1 | 0x80 | 0x100 | 0x1000 | 0x40000 | 0x100000 = 0x40141181
    csrr s0, misa
    CHECK "misa", s0, 0x40141181
    csrr s0, mhartid                # single hart
    CHECK "mhartid", s0, 0
    lw ra, 12(sp)
    addi sp, sp, 16
    ret
