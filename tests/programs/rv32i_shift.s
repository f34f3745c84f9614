# rv32i_shift: sll/srl/sra and immediate forms; register shift amounts use only bits 4:0.
.include "vmkit_test.inc"
main:
    li s1, 0x80000001
    slli s0, s1, 1
    CHECK "slli-1", s0, 0x00000002
    srli s0, s1, 31
    CHECK "srli-31", s0, 1
    srai s0, s1, 31                 # arithmetic: sign copies
    CHECK "srai-31", s0, 0xffffffff
    srai s0, s1, 4
    CHECK "srai-4", s0, 0xf8000000
    li s2, 33                       # shamt = 33 & 31 = 1
    sll s0, s1, s2
    CHECK "sll-33", s0, 0x00000002
    srl s0, s1, s2
    CHECK "srl-33", s0, 0x40000000
    sra s0, s1, s2
    CHECK "sra-33", s0, 0xc0000000
    li s2, -1                       # shamt = 31
    sll s0, s1, s2
    CHECK "sll-minus1", s0, 0x80000000
    li s2, 32                       # shamt = 0: unchanged
    srl s0, s1, s2
    CHECK "srl-32", s0, 0x80000001
    li s3, 0x7ffffff0
    srai s0, s3, 4                  # positive stays positive
    CHECK "srai-pos", s0, 0x07ffffff
    TEST_END
