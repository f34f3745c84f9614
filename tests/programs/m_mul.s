# m_mul: mul (low 32 bits), mulh (signed x signed), mulhsu (signed x unsigned), mulhu.
.include "vmkit_test.inc"
main:
    li s1, 0x80000000
    li s2, 0xffffffff
    mul s0, s1, s2                  # low word of 0x80000000 * -1 = 0x80000000
    CHECK "mul", s0, 0x80000000
    mulh s0, s1, s2                 # (-2^31) * (-1) = 2^31 -> high word 0
    CHECK "mulh-minmin1", s0, 0
    mulh s0, s1, s1                 # 2^62 -> high 0x40000000
    CHECK "mulh-min-min", s0, 0x40000000
    mulhu s0, s2, s2                # (2^32-1)^2 = 2^64 - 2^33 + 1 -> high 0xfffffffe
    CHECK "mulhu", s0, 0xfffffffe
    mulhsu s0, s2, s2               # -1 * (2^32-1) = -(2^32-1) -> high 0xffffffff
    CHECK "mulhsu-neg", s0, 0xffffffff
    mulhsu s0, s1, s2               # -2^31 * (2^32-1) = -2^63 + 2^31 -> high 0x80000000
    CHECK "mulhsu-min", s0, 0x80000000
    li s3, 0x12345678
    li s4, 0x9abcdef0
    mul s0, s3, s4                  # 0x12345678*0x9abcdef0 = 0x0b00ea4e_242d2080
    CHECK "mul-lo", s0, 0x242d2080
    mulhu s0, s3, s4
    CHECK "mulhu-hi", s0, 0x0b00ea4e
    mulh s0, s3, s4                 # signed: 0x0b00ea4e - 0x12345678 (s4 negative)
    CHECK "mulh-hi", s0, 0xf8cc93d6
    TEST_END
