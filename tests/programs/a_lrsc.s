# a_lrsc: lr.w/sc.w. sc.w writes 0 on success, nonzero (QEMU: 1) on failure; a failed sc does
# not store. Cases: lr/sc pair succeeds; a second sc (reservation consumed) fails; sc to an
# address other than the reserved one fails; an atomic-increment retry loop.
.include "vmkit_test.inc"
main:
    la s2, words
    li t1, 10
    sw t1, 0(s2)
    sw t1, 4(s2)
    lr.w s1, (s2)
    CHECK "lr-value", s1, 10
    li t2, 11
    sc.w s0, t2, (s2)
    CHECK "sc-success", s0, 0
    lw s1, 0(s2)
    CHECK "after-sc", s1, 11
    li t2, 12
    sc.w s0, t2, (s2)               # no reservation any more
    CHECK "sc-again-fails", s0, 1
    lw s1, 0(s2)
    CHECK "after-failed-sc", s1, 11
    lr.w s1, (s2)
    li t2, 99
    addi s3, s2, 4
    sc.w s0, t2, (s3)               # different address than the reservation
    CHECK "sc-other-addr", s0, 1
    lw s1, 4(s2)
    CHECK "other-word", s1, 10
    li s4, 5                        # increment words[0] 5 times with lr/sc loops
1:  lr.w.aq t1, (s2)
    addi t1, t1, 1
    sc.w.rl t2, t1, (s2)
    bnez t2, 1b
    addi s4, s4, -1
    bnez s4, 1b
    lw s1, 0(s2)
    CHECK "lrsc-loop", s1, 16
    TEST_END
    .data
    .align 2
words: .word 0, 0
