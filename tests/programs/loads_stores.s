# loads_stores: byte/half/word loads with sign and zero extension, narrow stores, little endian.
.include "vmkit_test.inc"
main:
    la s1, buf
    li t1, 0x8081f2f3
    sw t1, 0(s1)
    lb s0, 0(s1)                    # byte 0 = 0xf3 (little endian) sign-extended
    CHECK "lb", s0, 0xfffffff3
    lbu s0, 0(s1)
    CHECK "lbu", s0, 0x000000f3
    lb s0, 3(s1)
    CHECK "lb-3", s0, 0xffffff80
    lh s0, 2(s1)                    # half at +2 = 0x8081
    CHECK "lh", s0, 0xffff8081
    lhu s0, 2(s1)
    CHECK "lhu", s0, 0x00008081
    lh s0, 0(s1)
    CHECK "lh-0", s0, 0xfffff2f3
    li t1, 0x11223344
    sb t1, 1(s1)                    # only byte 1 changes
    lw s0, 0(s1)
    CHECK "sb", s0, 0x808144f3
    li t1, 0x11223344               # (CHECK clobbers t registers)
    sh t1, 2(s1)                    # bytes 2,3 = 0x44,0x33
    lw s0, 0(s1)
    CHECK "sh", s0, 0x334444f3
    li t1, 0x7f
    sb t1, 4(s1)
    lb s0, 4(s1)                    # positive byte: zero upper bits
    CHECK "lb-pos", s0, 0x7f
    addi s2, s1, 8
    li t1, 0xcafef00d
    sw t1, -4(s2)                   # negative offset
    lw s0, 4(s1)
    CHECK "sw-negoff", s0, 0xcafef00d
    TEST_END
    .data
    .align 2
buf: .space 16
