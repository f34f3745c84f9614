# sv32_sum_mxr: S access to a U page faults unless sstatus.SUM (loads and stores), S never
# executes a U page (even with SUM); an execute-only page is readable only with sstatus.MXR.
.include "vmkit_test.inc"
    .equ VA_USER, 0x40000000        # V R W U A D
    .equ VA_XONLY, 0x40001000       # V X A
.macro EXPECT name, cause, tval
    LOADTR s0, strap, TR_CAUSE
    CHECK "\name-scause", s0, \cause
    LOADTR s0, strap, TR_TVAL
    CHECK "\name-stval", s0, \tval
.endm
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, strap_record
    li t1, (1 << 12) | (1 << 13) | (1 << 15)
    csrw medeleg, t1
    MAP_KERNEL root                 # RAM and the UART, identity-mapped megapages
    la a0, root
    li a1, VA_USER
    la a2, page
    li a3, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
    la a4, l2
    call map_page
    la a0, root
    li a1, VA_XONLY
    la a2, page
    li a3, PTE_V | PTE_X | PTE_A
    la a4, l2
    call map_page
    la t1, page
    li t2, 0xabcd0123
    sw t2, 0(t1)
    li t2, 0x00008067               # ret: lets S try to execute the U page
    sw t2, 4(t1)
    la t1, root
    srli t1, t1, 12
    li t2, SATP_SV32
    or t1, t1, t2
    csrw satp, t1
    sfence.vma
    GOTO_S
    li s1, VA_USER
    li s2, 0
    lw s2, 0(s1)                    # SUM = 0: fault, s2 unchanged
    EXPECT "user-load-nosum", 13, VA_USER
    sw zero, 8(s1)
    EXPECT "user-store-nosum", 15, VA_USER + 8
    li t1, MSTATUS_SUM
    csrs sstatus, t1
    lw s2, 0(s1)
    CHECK "user-load-sum", s2, 0xabcd0123
    addi s3, s1, 4
    jalr ra, 0(s3)                  # SUM does not allow execution
    EXPECT "user-fetch-sum", 12, VA_USER + 4
    li t1, MSTATUS_SUM
    csrc sstatus, t1
    li s1, VA_XONLY
    li s2, 0
    lw s2, 0(s1)
    EXPECT "xonly-load-nomxr", 13, VA_XONLY
    li t1, MSTATUS_MXR
    csrs sstatus, t1
    lw s2, 0(s1)
    CHECK "xonly-load-mxr", s2, 0xabcd0123
    sw zero, 8(s1)                  # MXR does not make it writable
    EXPECT "xonly-store-mxr", 15, VA_XONLY + 8
    li t1, MSTATUS_MXR
    csrc sstatus, t1
    LOADTR s0, strap, TR_COUNT
    CHECK "s-traps", s0, 5
    ecall
    csrw satp, zero
    TEST_END

    .bss
    .align 12
root: .space 4096
l2:   .space 4096
page: .space 4096
