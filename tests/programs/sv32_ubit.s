# sv32_ubit: U-mode under Sv32 may only touch pages with PTE.U = 1: a load (13), store (15) or
# fetch (12) of a supervisor page faults (here to M, no delegation; mtval = the VA).
.include "vmkit_test.inc"
    .equ VA_SUPER, 0x40000000       # V R W X A D, no U
.macro EXPECT name, cause, tval
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "\name-mcause", s0, \cause
    LOADTR s0, mtrap, TR_TVAL
    CHECK "\name-mtval", s0, \tval
.endm
main:
    SET_TVEC mtvec, mtrap_record
    la a0, root                     # RAM identity-mapped as a user megapage: U code runs here
    li a1, 0x80000000
    li a2, 0x80000000
    li a3, PTE_RWX_AD | PTE_U
    call map_mega
    la a0, root
    li a1, VA_SUPER
    la a2, page
    li a3, PTE_RWX_AD
    la a4, l2
    call map_page
    la t1, page
    li t2, 0x600df00d
    sw t2, 0(t1)
    li t2, 0x00008067               # ret
    sw t2, 4(t1)
    la t1, root
    srli t1, t1, 12
    li t2, SATP_SV32
    or t1, t1, t2
    csrw satp, t1
    sfence.vma
    GOTO_U
    la s1, uword
    li t1, 77
    sw t1, 0(s1)                    # U page: fine
    lw s2, 0(s1)
    li s1, VA_SUPER
    li s3, 0
    lw s3, 0(s1)
    ecall
    CHECK "u-page-rw", s2, 77
    CHECK "super-load-unchanged", s3, 0
    EXPECT "super-load", 13, VA_SUPER
    GOTO_U
    li s1, VA_SUPER
    sw zero, 0x10(s1)
    ecall
    EXPECT "super-store", 15, VA_SUPER + 0x10
    GOTO_U
    li s1, VA_SUPER + 4
    jalr ra, 0(s1)
    ecall
    EXPECT "super-fetch", 12, VA_SUPER + 4
    LOADTR s0, mtrap, TR_STATUS
    li t1, MSTATUS_MPP
    and s0, s0, t1
    CHECK "from-u", s0, 0
    la t1, page                     # the store did not happen
    lw s0, 0x10(t1)
    CHECK "super-word", s0, 0
    csrw satp, zero
    TEST_END

    .data
uword: .word 0
    .bss
    .align 12
root: .space 4096
l2:   .space 4096
page: .space 4096
