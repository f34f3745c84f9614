# ecall_su: ecall from U (cause 8) and S (cause 9) trap to M (no delegation), with
# mstatus.MPP = the mode the ecall came from; ebreak from U and S (cause 3).
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
    GOTO_U
1:  ecall                           # GOTO_M
    LOADTR s0, mecall, TR_CAUSE
    CHECK "u-ecall-cause", s0, 8
    LOADTR s0, mecall, TR_STATUS
    li t1, MSTATUS_MPP
    and s0, s0, t1
    CHECK "u-ecall-mpp", s0, 0
    LOADTR s0, mecall, TR_EPC
    la s1, 1b
    sub s0, s0, s1
    CHECK "u-ecall-epc-offset", s0, 0
    GOTO_S
    ecall
    LOADTR s0, mecall, TR_CAUSE
    CHECK "s-ecall-cause", s0, 9
    LOADTR s0, mecall, TR_STATUS
    li t1, MSTATUS_MPP
    and s0, s0, t1
    CHECK "s-ecall-mpp", s0, 0x800
    GOTO_U
    ebreak                          # resumes in U after it
    ecall
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "u-ebreak-cause", s0, 3
    LOADTR s0, mtrap, TR_STATUS
    li t1, MSTATUS_MPP
    and s0, s0, t1
    CHECK "u-ebreak-mpp", s0, 0
    GOTO_S
    ebreak
    ecall
    LOADTR s0, mtrap, TR_STATUS
    li t1, MSTATUS_MPP
    and s0, s0, t1
    CHECK "s-ebreak-mpp", s0, 0x800
    LOADTR s0, mtrap, TR_COUNT
    CHECK "ebreak-count", s0, 2
    csrr s0, mstatus                # the handler's mret (MPP = 3) set MPP to the least-privileged
    li t1, MSTATUS_MPP              # mode, U = 0
    and s0, s0, t1
    CHECK "mpp-after-mret", s0, 0
    TEST_END
