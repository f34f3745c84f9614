# mprv: with mstatus.MPRV = 1, M-mode loads and stores are translated and checked as if in
# mstatus.MPP's mode (fetches are not). MPP = S reads through satp; MPP = U on a non-U page
# faults (13 to M, mtval = VA); MPP = M ignores MPRV.
.include "vmkit_test.inc"
    .equ VA, 0x40000000             # -> page, supervisor page
main:
    SET_TVEC mtvec, mtrap_record
    la a0, root
    li a1, 0x80000000
    li a2, 0x80000000
    li a3, PTE_RWX_AD
    call map_mega
    la a0, root
    li a1, VA
    la a2, page
    li a3, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    la a4, l2
    call map_page
    la t1, page
    li t2, 0x13572468
    sw t2, 0(t1)
    la t1, root
    srli t1, t1, 12
    li t2, SATP_SV32
    or t1, t1, t2
    csrw satp, t1
    sfence.vma
    li s1, VA
    li t1, MSTATUS_MPP              # MPP = S
    csrc mstatus, t1
    li t1, 1 << 11
    csrs mstatus, t1
    li t1, MSTATUS_MPRV
    csrs mstatus, t1
    lw s2, 0(s1)                    # translated: page
    li t2, 0x2468ace0
    sw t2, 4(s1)
    li t1, MSTATUS_MPP              # MPP = U: supervisor page not accessible
    csrc mstatus, t1
    li s3, 0
    lw s3, 0(s1)
    li t1, MSTATUS_MPP              # MPP = M: MPRV has no effect
    csrs mstatus, t1
    la t1, page
    lw s4, 4(t1)                    # physical
    li t1, MSTATUS_MPRV
    csrc mstatus, t1
    CHECK "mprv-s-load", s2, 0x13572468
    CHECK "mprv-s-store", s4, 0x2468ace0
    CHECK "mprv-u-unchanged", s3, 0
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "mprv-u-mcause", s0, 13
    LOADTR s0, mtrap, TR_TVAL
    CHECK "mprv-u-mtval", s0, VA
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps", s0, 1
    csrw satp, zero
    TEST_END

    .bss
    .align 12
root: .space 4096
l2:   .space 4096
page: .space 4096
