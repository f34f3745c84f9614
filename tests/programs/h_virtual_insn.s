# h_virtual_insn: virtual-instruction exceptions (cause 22, mtval = the instruction bits) for
# instructions that are legal in HS/S but not allowed in VS/VU: hypervisor CSRs and HLV/hfence
# from VS, wfi with hstatus.VTW, sret with VTSR, satp/sfence.vma with VTVM, S CSRs and wfi
# from VU. M CSRs stay illegal (2) from VS.
# Not tested because QEMU 7.2 departs from the spec: VU access to an S CSR (spec: 22, QEMU: 2),
# a VS satp access with VTVM (spec: 22, QEMU: no trap), mtval of a trapping hlv.w (QEMU leaves
# the previous instruction's bits), and mstatus.GVA on these traps (QEMU sets it to 1 whenever
# V=1 and mtval != 0, and never clears it: the spec wants 0 as mtval is not an address).
.include "vmkit_test.inc"
.option arch, +h
.macro EXPECT name, cause, bits
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "\name-cause", s0, \cause
    LOADTR s0, mtrap, TR_TVAL
    CHECK "\name-tval", s0, \bits
.endm
main:
    SET_TVEC mtvec, mtrap_record
    GOTO_VS
    csrr s1, hstatus                # csrrs s1, hstatus, x0
    ecall
    EXPECT "vs-hstatus", 22, 0x600024f3
    LOADTR s0, mtrap, TR_STATUSH
    andi s0, s0, MSTATUSH_MPV
    CHECK "vs-hstatus-mpv", s0, MSTATUSH_MPV
    GOTO_VS
    hfence.vvma
    ecall
    EXPECT "vs-hfence.vvma", 22, 0x22000073
    GOTO_VS
    la t1, word
    hlv.w s1, (t1)
    ecall
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "vs-hlv.w-cause", s0, 22
    GOTO_VS
    csrr s1, mstatus
    ecall
    EXPECT "vs-mstatus", 2, 0x300024f3
    li t1, HSTATUS_VTW | HSTATUS_VTSR | HSTATUS_VTVM
    csrw hstatus, t1
    GOTO_VS
    wfi
    ecall
    EXPECT "vs-wfi-vtw", 22, 0x10500073
    GOTO_VS
    la t1, 1f
    csrw sepc, t1
    sret
1:  ecall
    EXPECT "vs-sret-vtsr", 22, 0x10200073
    GOTO_VS
    sfence.vma
    ecall
    EXPECT "vs-sfence-vtvm", 22, 0x12000073
    csrw hstatus, zero
    GOTO_VU
    wfi
    ecall
    EXPECT "vu-wfi", 22, 0x10500073
    GOTO_VU
    csrr s1, mstatus
    ecall
    EXPECT "vu-mstatus", 2, 0x300024f3
    LOADTR s0, mtrap, TR_COUNT
    CHECK "count", s0, 9
    TEST_END
    .data
word: .word 0
