# jumps: jal/jalr link values (pc + 4), jalr clears bit 0 of the target, rd = rs1 case,
# misaligned jump target (bit 1 set) -> instruction-address-misaligned (0) with mtval = target.
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
1:  jal s1, 2f                      # s1 = address of 1b + 4
    nop
2:  la s2, 1b
    sub s0, s1, s2
    CHECK "jal-link", s0, 4
    la s3, 3f
    addi s3, s3, 1                  # odd target: jalr clears bit 0
    jalr s4, 0(s3)
    li s0, 0xbad                    # skipped
3:  li s0, 1
    CHECK "jalr-bit0", s0, 1
    la s3, 4f
    addi s3, s3, -8
    jalr s3, 8(s3)                  # rd == rs1: target uses the old value
    li s0, 0xbad
4:  li s0, 2
    CHECK "jalr-rd-rs1", s0, 2
5:  la s5, 6f
    jalr s5, s5                     # s5 = link; link = 6f? (pc+4 of this jalr)
6:  la s6, 6b
    sub s0, s6, s5
    CHECK "jalr-link", s0, 0
    la s3, 7f
    addi s3, s3, 2                  # bit 1 set: misaligned without C
8:  jalr ra, 0(s3)
7:  LOADTR s0, mtrap, TR_CAUSE
    CHECK "misaligned-cause", s0, 0
    LOADTR s0, mtrap, TR_TVAL
    la s6, 7b
    sub s0, s0, s6
    CHECK "misaligned-tval-offset", s0, 2
    LOADTR s0, mtrap, TR_EPC        # the jump itself faults
    la s6, 8b
    sub s0, s0, s6
    CHECK "misaligned-epc-offset", s0, 0
    TEST_END
