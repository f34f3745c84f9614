# h_enter_vs_sret: HS enters VS with sret when hstatus.SPV = 1 (sstatus.SPP = 1 -> VS);
# sret clears hstatus.SPV. With medeleg[10] an ecall from VS traps to HS: scause 10,
# hstatus.SPV = 1 (came from V=1), hstatus.SPVP = 1 (VS was S-level), GVA = 0, sstatus.SPP = 1.
.include "vmkit_test.inc"
.option arch, +h
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, landing
    li t1, 1 << 10
    csrw medeleg, t1
    GOTO_S
    li t1, HSTATUS_SPV
    csrs hstatus, t1
    li t1, MSTATUS_SPP
    csrs sstatus, t1
    la t1, guest
    csrw sepc, t1
    sret
guest:                              # VS
    csrr s4, sstatus                # vsstatus
1:  ecall
    j .                             # not reached

    .align 2
landing:                            # HS: the VS ecall lands here (V=0, S-mode)
    csrr s1, scause
    csrr s2, hstatus
    csrr s3, sepc
    csrr s5, sstatus
    CHECK "scause", s1, 10
    li t1, HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_GVA
    and s0, s2, t1
    CHECK "hstatus-spv-spvp-gva", s0, HSTATUS_SPV | HSTATUS_SPVP
    la t1, 1b
    sub s0, s3, t1
    CHECK "sepc-offset", s0, 0
    andi s0, s5, MSTATUS_SPP
    CHECK "sstatus-spp", s0, MSTATUS_SPP
    ecall                           # HS -> M
    LOADTR s0, mecall, TR_CAUSE
    CHECK "hs-ecall-cause", s0, 9
    csrw medeleg, zero              # now VS ecalls go to M: enter VS again and check that
    li t1, MSTATUS_SPP              # sret cleared SPV
    csrs mstatus, t1
    li t1, HSTATUS_SPV
    csrs hstatus, t1
    GOTO_S
    la t1, 2f
    csrw sepc, t1
    sret
2:  ecall                           # from VS: to M
    LOADTR s0, mecall, TR_CAUSE
    CHECK "vs-ecall-to-m", s0, 10
    csrr s0, hstatus
    andi s0, s0, HSTATUS_SPV
    CHECK "hstatus-spv-after-sret", s0, 0
    TEST_END
