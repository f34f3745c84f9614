# misaligned: misaligned loads/stores to RAM. QEMU 7.2 performs them (the spec allows either
# doing the access or raising an address-misaligned exception, cause 4 / 6); AMOs and LR/SC
# must trap: lr.w -> load address-misaligned (4), mtval = the address.  (A misaligned amoadd.w
# should raise store/AMO address-misaligned (6); QEMU 7.2 reports 4, so it is not tested here.)
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
    la s1, buf
    li t1, 0x44332211
    sw t1, 0(s1)
    li t1, 0x88776655
    sw t1, 4(s1)
    lw s0, 1(s1)                    # bytes 1..4
    CHECK "lw+1", s0, 0x55443322
    lh s0, 3(s1)                    # bytes 3,4 = 0x44, 0x55 -> 0x5544
    CHECK "lh+3", s0, 0x00005544
    lhu s0, 1(s1)
    CHECK "lhu+1", s0, 0x00003322
    li t1, 0xaabbccdd
    sw t1, 2(s1)                    # bytes 2..5
    lw s0, 0(s1)
    CHECK "sw+2-lo", s0, 0xccdd2211
    lw s0, 4(s1)
    CHECK "sw+2-hi", s0, 0x8877aabb
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps-so-far", s0, 0
    addi s2, s1, 2
    lr.w s0, (s2)
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "lr-cause", s0, 4
    LOADTR s0, mtrap, TR_TVAL
    sub s0, s0, s1
    CHECK "lr-tval-offset", s0, 2
    TEST_END
    .data
    .align 2
buf: .space 16
