# branches: beq/bne/blt/bge/bltu/bgeu taken and not taken, signed vs unsigned, backward loop.
.include "vmkit_test.inc"
# BR op, a, b: s0 = 1 if `op a, b` is taken else 0
.macro BR op, ra_, rb_
    li s0, 1
    \op \ra_, \rb_, 1f
    li s0, 0
1:
.endm
main:
    li s1, -1
    li s2, 1
    BR beq, s2, s2
    CHECK "beq-eq", s0, 1
    BR beq, s1, s2
    CHECK "beq-ne", s0, 0
    BR bne, s1, s2
    CHECK "bne", s0, 1
    BR blt, s1, s2                  # -1 < 1 signed
    CHECK "blt-signed", s0, 1
    BR bltu, s1, s2                 # 0xffffffff < 1 unsigned: no
    CHECK "bltu-unsigned", s0, 0
    BR bge, s2, s1
    CHECK "bge", s0, 1
    BR bge, s2, s2                  # equal counts as >=
    CHECK "bge-equal", s0, 1
    BR bgeu, s2, s1
    CHECK "bgeu", s0, 0
    BR bgeu, s1, s2
    CHECK "bgeu-big", s0, 1
    li s0, 0                        # backward branch loop: sum 1..10 = 55
    li s3, 10
2:  add s0, s0, s3
    addi s3, s3, -1
    bnez s3, 2b
    CHECK "loop-sum", s0, 55
    TEST_END
