# m_div: div/divu/rem/remu, including the spec's defined results for division by zero
# (quotient all ones, remainder = dividend) and signed overflow (-2^31 / -1 = -2^31, rem 0).
.include "vmkit_test.inc"
main:
    li s1, 7
    li s2, -2
    div s0, s1, s2                  # rounds toward zero: -3
    CHECK "div", s0, 0xfffffffd
    rem s0, s1, s2                  # sign of dividend: 1
    CHECK "rem", s0, 1
    li s3, -7
    rem s0, s3, s2                  # -7 rem -2 = -1
    CHECK "rem-neg", s0, 0xffffffff
    divu s0, s2, s1                 # 0xfffffffe / 7 = 0x24924924
    CHECK "divu", s0, 0x24924924
    remu s0, s2, s1                 # 0xfffffffe - 7*0x24924924 = 2
    CHECK "remu", s0, 2
    div s0, s1, zero
    CHECK "div-by-zero", s0, 0xffffffff
    divu s0, s1, zero
    CHECK "divu-by-zero", s0, 0xffffffff
    rem s0, s3, zero
    CHECK "rem-by-zero", s0, 0xfffffff9
    remu s0, s1, zero
    CHECK "remu-by-zero", s0, 7
    li s4, 0x80000000
    li s5, -1
    div s0, s4, s5
    CHECK "div-overflow", s0, 0x80000000
    rem s0, s4, s5
    CHECK "rem-overflow", s0, 0
    divu s0, s4, s5                 # unsigned: 0
    CHECK "divu-max", s0, 0
    TEST_END
