# rv32i_alu: register/immediate arithmetic and logic, lui/auipc (32-bit wrap-around).
.include "vmkit_test.inc"
main:
    li s1, 0x7fffffff
    addi s0, s1, 1                  # signed overflow wraps: 0x80000000
    CHECK "addi-wrap", s0, 0x80000000
    li s2, 0x80000000
    sub s0, s2, s1                  # 0x80000000 - 0x7fffffff = 1
    CHECK "sub", s0, 1
    sub s0, zero, s1                # -0x7fffffff = 0x80000001
    CHECK "neg", s0, 0x80000001
    li s3, 0x12345678
    li s4, 0x0f0f0f0f
    and s0, s3, s4
    CHECK "and", s0, 0x02040608
    or s0, s3, s4
    CHECK "or", s0, 0x1f3f5f7f
    xor s0, s3, s4
    CHECK "xor", s0, 0x1d3b5977
    andi s0, s3, -256               # imm sign-extends to 0xffffff00
    CHECK "andi-signext", s0, 0x12345600
    ori s0, s3, 0x7ff
    CHECK "ori", s0, 0x123457ff           # 0x678 | 0x7ff = 0x7ff
    xori s0, s3, -1                 # not
    CHECK "xori-not", s0, 0xedcba987
    addi s0, zero, -2048            # most negative 12-bit immediate
    CHECK "addi-min", s0, 0xfffff800
    lui s0, 0xfffff                 # upper 20 bits, low 12 zero
    CHECK "lui", s0, 0xfffff000
    li s0, 0x12345fff               # li = lui + addi with carry compensation
    CHECK "li", s0, 0x12345fff
1:  auipc s0, 0x1                   # auipc adds imm<<12 to its own pc
    la s1, 1b
    sub s0, s0, s1
    CHECK "auipc-offset", s0, 0x1000
    addi x0, zero, 5                # writes to x0 are discarded
    CHECK "x0", x0, 0
    TEST_END
