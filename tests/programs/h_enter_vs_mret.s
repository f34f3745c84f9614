# h_enter_vs_mret: mret with mstatush.MPV = 1 (mstatus.MPV, bit 39) enters VS (MPP = S) or
# VU (MPP = U). In VS the s* CSRs are the vs* ones (sscratch -> vsscratch). ecall from VS is
# cause 10, from VU cause 8, both with MPV = 1 in mstatush at the trap; a trap from V=0 has
# MPV = 0. hgatp and vsatp are bare: guest physical = host physical.
.include "vmkit_test.inc"
.option arch, +h
main:
    SET_TVEC mtvec, mtrap_record
    li t1, 0x5c5c
    csrw sscratch, t1
    csrw vsscratch, zero
    GOTO_VS
    li t1, 0x1234
    csrw sscratch, t1               # really vsscratch
    csrr s1, sstatus                # vsstatus
1:  ecall
    LOADTR s0, mecall, TR_CAUSE
    CHECK "vs-ecall-cause", s0, 10
    LOADTR s0, mecall, TR_STATUSH
    CHECK "vs-ecall-mstatush", s0, MSTATUSH_MPV
    LOADTR s0, mecall, TR_STATUS
    li t1, MSTATUS_MPP
    and s0, s0, t1
    CHECK "vs-ecall-mpp", s0, 0x800
    LOADTR s0, mecall, TR_EPC
    la t1, 1b
    sub s0, s0, t1
    CHECK "vs-ecall-epc-offset", s0, 0
    csrr s0, vsscratch
    CHECK "vsscratch", s0, 0x1234
    csrr s0, sscratch
    CHECK "sscratch-untouched", s0, 0x5c5c
    csrr s0, mstatush               # the handler's mret (MPV = 0) left MPV = 0
    CHECK "mstatush-now", s0, 0
    GOTO_VU
    ecall
    LOADTR s0, mecall, TR_CAUSE
    CHECK "vu-ecall-cause", s0, 8
    LOADTR s0, mecall, TR_STATUSH
    CHECK "vu-ecall-mstatush", s0, MSTATUSH_MPV
    LOADTR s0, mecall, TR_STATUS
    li t1, MSTATUS_MPP
    and s0, s0, t1
    CHECK "vu-ecall-mpp", s0, 0
    GOTO_S
    ecall
    LOADTR s0, mecall, TR_CAUSE
    CHECK "hs-ecall-cause", s0, 9
    LOADTR s0, mecall, TR_STATUSH
    CHECK "hs-ecall-mstatush", s0, 0
    TEST_END
