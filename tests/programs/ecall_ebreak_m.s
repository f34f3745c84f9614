# ecall_ebreak_m: ecall from M (cause 11, mtval 0), ebreak (cause 3; mtval 0 on QEMU 7.2,
# one of the two values the spec allows, the other being the pc), mepc = the instruction,
# and the trap updates mstatus:
# MPP = 3 (came from M), MPIE = old MIE (0), MIE = 0; mret restores.
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
1:  ecall
    LOADTR s0, mecall, TR_CAUSE
    CHECK "ecall-cause", s0, 11
    LOADTR s0, mecall, TR_TVAL
    CHECK "ecall-tval", s0, 0
    LOADTR s0, mecall, TR_EPC
    la s1, 1b
    sub s0, s0, s1
    CHECK "ecall-epc-offset", s0, 0
    LOADTR s0, mecall, TR_STATUS
    li t1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
    and s0, s0, t1
    CHECK "ecall-mstatus-mpp-mpie-mie", s0, 0x1800
2:  ebreak
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "ebreak-cause", s0, 3
    LOADTR s0, mtrap, TR_TVAL
    CHECK "ebreak-tval", s0, 0
    LOADTR s0, mtrap, TR_EPC
    la s1, 2b
    sub s0, s0, s1
    CHECK "ebreak-epc-offset", s0, 0
    csrsi mstatus, MSTATUS_MIE      # MIE=1 (no interrupt enabled in mie): trap saves it in MPIE
    ebreak
    csrr s2, mstatus
    LOADTR s0, mtrap, TR_STATUS
    li t1, MSTATUS_MPIE | MSTATUS_MIE
    and s0, s0, t1
    CHECK "trap-mpie-mie", s0, MSTATUS_MPIE
    li t1, MSTATUS_MPIE | MSTATUS_MIE
    and s0, s2, t1                  # after mret: MIE = MPIE = 1, MPIE = 1
    CHECK "mret-mpie-mie", s0, MSTATUS_MPIE | MSTATUS_MIE
    csrci mstatus, MSTATUS_MIE
    TEST_END
