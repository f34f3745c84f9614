# clint_msip: the CLINT msip register (bit 0 only) drives mip.MSIP (bit 3); taken as mcause
# 0x80000003 when mie.MSIE and mstatus.MIE; clearing msip clears mip.MSIP. M software
# interrupts are also taken in S mode whatever mstatus.MIE says.
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
    li s1, CLINT_MSIP
    li t1, -1
    sw t1, 0(s1)                    # only bit 0 exists
    lw s0, 0(s1)
    CHECK "msip-readback", s0, 1
    csrr s0, mip
    andi s0, s0, 1 << IRQ_MSI
    CHECK "mip-msip", s0, 8
    li t1, 1 << IRQ_MSI
    csrc mip, t1                    # mip.MSIP is read-only (the CLINT owns it)
    csrr s0, mip
    andi s0, s0, 1 << IRQ_MSI
    CHECK "mip-msip-readonly", s0, 8
    li t1, 1 << IRQ_MSI
    csrs mie, t1
    csrsi mstatus, MSTATUS_MIE
    nop
    csrci mstatus, MSTATUS_MIE
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "mcause", s0, 0x80000003
    LOADTR s0, mtrap, TR_STATUS     # trap from M with MIE = 1: MPIE = 1, MPP = M, MIE = 0
    li t1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
    and s0, s0, t1
    CHECK "trap-mstatus", s0, 0x1880
    li t1, 1 << IRQ_MSI             # still pending: in S it is taken although MIE = 0
    csrs mie, t1
    GOTO_S
    nop
    ecall
    LOADTR s0, mtrap, TR_COUNT
    CHECK "count", s0, 2
    LOADTR s0, mtrap, TR_STATUS
    li t1, MSTATUS_MPP
    and s0, s0, t1
    CHECK "from-s-mpp", s0, 0x800
    sw zero, 0(s1)
    lw s0, 0(s1)
    CHECK "msip-clear", s0, 0
    csrr s0, mip
    andi s0, s0, 1 << IRQ_MSI
    CHECK "mip-msip-clear", s0, 0
    TEST_END
