# rv32i_compare: slt/sltu/slti/sltiu at the signed/unsigned boundaries.
.include "vmkit_test.inc"
main:
    li s1, 0x80000000               # most negative signed, large unsigned
    li s2, 1
    slt s0, s1, s2
    CHECK "slt-neg-lt-1", s0, 1
    sltu s0, s1, s2
    CHECK "sltu-big-lt-1", s0, 0
    slt s0, s2, s2
    CHECK "slt-equal", s0, 0
    slti s0, s1, -1                 # -2^31 < -1
    CHECK "slti-neg", s0, 1
    sltiu s0, s2, -1                # imm sign-extends to 0xffffffff, compared unsigned
    CHECK "sltiu-max", s0, 1
    sltiu s0, zero, 1               # seqz idiom
    CHECK "seqz-0", s0, 1
    sltiu s0, s2, 1
    CHECK "seqz-1", s0, 0
    sltu s0, zero, s1               # snez idiom
    CHECK "snez", s0, 1
    li s3, -1
    slt s0, s3, zero
    CHECK "sltz-minus1", s0, 1
    sltu s0, s3, zero
    CHECK "sltu-minus1-0", s0, 0
    TEST_END
