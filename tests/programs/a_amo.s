# a_amo: every amo*.w returns the old value and stores op(old, rs2); signed vs unsigned min/max.
.include "vmkit_test.inc"
# AMO op, init, operand: s0 = old value returned, s1 = new memory value
.macro AMO op, init, operand
    la s2, word
    li t1, \init
    sw t1, 0(s2)
    li t2, \operand
    \op s0, t2, (s2)
    lw s1, 0(s2)
.endm
main:
    AMO amoswap.w, 0x11111111, 0x22222222
    CHECK "amoswap-old", s0, 0x11111111
    CHECK "amoswap-new", s1, 0x22222222
    AMO amoadd.w, 0xffffffff, 2
    CHECK "amoadd-new", s1, 1
    AMO amoxor.w, 0xff00ff00, 0x0ff00ff0
    CHECK "amoxor-new", s1, 0xf0f0f0f0
    AMO amoand.w, 0xff00ff00, 0x0ff00ff0
    CHECK "amoand-new", s1, 0x0f000f00
    AMO amoor.w, 0xff00ff00, 0x0ff00ff0
    CHECK "amoor-new", s1, 0xfff0fff0
    AMO amomin.w, 0xfffffffe, 1     # signed: -2 < 1
    CHECK "amomin-new", s1, 0xfffffffe
    AMO amominu.w, 0xfffffffe, 1    # unsigned: 1 < 0xfffffffe
    CHECK "amominu-new", s1, 1
    AMO amomax.w, 0xfffffffe, 1
    CHECK "amomax-new", s1, 1
    AMO amomaxu.w, 0xfffffffe, 1
    CHECK "amomaxu-new", s1, 0xfffffffe
    CHECK "amomaxu-old", s0, 0xfffffffe
    la s2, word                     # rd = x0: memory still updated
    li t1, 5
    sw t1, 0(s2)
    li t2, 3
    amoadd.w.aqrl zero, t2, (s2)
    lw s1, 0(s2)
    CHECK "amoadd-rd0", s1, 8
    TEST_END
    .data
    .align 2
word: .word 0
