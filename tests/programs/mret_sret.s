# mret_sret: xRET semantics. mret: MIE = MPIE, MPIE = 1, MPP = U (least privileged), priv =
# old MPP.  (Priv 1.12 also clears MPRV when mret leaves M; QEMU 7.2 does not, so MPRV is
# not tested here.) sret: SIE = SPIE, SPIE = 1, SPP = U.
# mstatus.TSR=1 makes sret in S illegal.
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
    li t1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
    csrc mstatus, t1
    li t1, MSTATUS_MPP              # MPP = M, MPIE = 0: mret stays in M
    csrs mstatus, t1
    la t1, 1f
    csrw mepc, t1
    mret
1:  csrr s0, mstatus
    li t1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
    and s0, s0, t1
    CHECK "mret-m-mpie0", s0, MSTATUS_MPIE
    li t1, MSTATUS_MPP | MSTATUS_MPIE
    csrs mstatus, t1                # MPIE = 1: mret sets MIE = 1
    la t1, 2f
    csrw mepc, t1
    mret
2:  csrr s0, mstatus
    csrci mstatus, MSTATUS_MIE
    li t1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
    and s0, s0, t1
    CHECK "mret-m-mpie1", s0, MSTATUS_MPIE | MSTATUS_MIE
    GOTO_S
    ecall
    LOADTR s0, mecall, TR_STATUS
    li t1, MSTATUS_MPP
    and s0, s0, t1
    CHECK "mret-to-s-then-ecall-mpp", s0, 0x800
    GOTO_S                          # sret from S to S: SIE = SPIE, SPIE = 1, SPP = U
    li t1, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    csrc sstatus, t1
    li t1, MSTATUS_SPP | MSTATUS_SPIE
    csrs sstatus, t1
    la t1, 3f
    csrw sepc, t1
    sret
3:  csrr s0, sstatus
    csrci sstatus, MSTATUS_SIE
    andi s0, s0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    CHECK "sret-s", s0, MSTATUS_SPIE | MSTATUS_SIE
    la t1, 4f                       # sret with SPP = U: continue in U
    csrw sepc, t1
    sret
4:  ecall
    LOADTR s0, mecall, TR_CAUSE
    CHECK "sret-to-u", s0, 8
    li t1, MSTATUS_TSR
    csrs mstatus, t1
    GOTO_S
    la t1, 5f
    csrw sepc, t1
    sret                            # TSR: illegal (resumes at the next instruction, in S)
5:  ecall
    li t1, MSTATUS_TSR
    csrc mstatus, t1
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "tsr-sret-cause", s0, 2
    LOADTR s0, mtrap, TR_TVAL
    CHECK "tsr-sret-tval", s0, 0x10200073
    LOADTR s0, mecall, TR_CAUSE
    CHECK "tsr-stayed-in-s", s0, 9
    TEST_END
