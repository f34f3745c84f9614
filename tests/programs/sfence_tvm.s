# sfence_tvm: after S rewrites a PTE, sfence.vma (by address, then global) makes the new
# translation visible; a PTE made invalid faults after sfence.vma. mstatus.TVM = 1 makes satp
# accesses and sfence.vma in S illegal (cause 2).
.include "vmkit_test.inc"
    .equ VA, 0x40000000
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, strap_record
    li t1, (1 << 12) | (1 << 13) | (1 << 15)
    csrw medeleg, t1
    MAP_KERNEL root                 # RAM and the UART, identity-mapped megapages
    la a0, root
    li a1, VA
    la a2, pagea
    li a3, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    la a4, l2
    call map_page
    la t1, pagea
    li t2, 0xaaaaaaaa
    sw t2, 0(t1)
    la t1, pageb
    li t2, 0xbbbbbbbb
    sw t2, 0(t1)
    la t1, root
    srli t1, t1, 12
    li t2, SATP_SV32
    or t1, t1, t2
    csrw satp, t1
    sfence.vma
    GOTO_S
    li s1, VA
    lw s0, 0(s1)
    CHECK "before", s0, 0xaaaaaaaa
    la a0, l2
    li a1, VA
    call pte_addr
    mv s2, a0
    la t1, pageb                    # point VA at pageb
    srli t1, t1, 12
    slli t1, t1, 10
    ori t1, t1, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    sw t1, 0(s2)
    sfence.vma s1, zero
    lw s0, 0(s1)
    CHECK "after-sfence-va", s0, 0xbbbbbbbb
    sw zero, 0(s2)                  # invalidate
    sfence.vma
    li s3, 0x1234
    lw s3, 0(s1)
    CHECK "invalid-unchanged", s3, 0x1234
    LOADTR s0, strap, TR_CAUSE
    CHECK "invalid-scause", s0, 13
    ecall
    li t1, MSTATUS_TVM
    csrs mstatus, t1
    GOTO_S
    csrr s1, satp
    sfence.vma
    ecall
    LOADTR s0, mtrap, TR_COUNT
    CHECK "tvm-traps", s0, 2
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "tvm-cause", s0, 2
    LOADTR s0, mtrap, TR_TVAL       # sfence.vma zero, zero
    CHECK "tvm-sfence-tval", s0, 0x12000073
    li t1, MSTATUS_TVM
    csrc mstatus, t1
    csrw satp, zero
    TEST_END

    .bss
    .align 12
root:  .space 4096
l2:    .space 4096
pagea: .space 4096
pageb: .space 4096
