# sv32_faults: page faults delegated to S: load (13), store/AMO (15) and instruction (12) page
# faults, stval = the faulting virtual address (with its page offset), sepc = the instruction
# (the fetch fault: the target). Causes: V=0, read-only page, W=1 R=0 (reserved), X=0 page,
# a non-leaf PTE at the last level.
.include "vmkit_test.inc"
    .equ VA_INVALID, 0x40000000     # PTE V = 0
    .equ VA_RO, 0x40001000          # V R A
    .equ VA_WONLY, 0x40002000       # V W A D: reserved
    .equ VA_NOX, 0x40003000         # V R W A D
    .equ VA_NONLEAF, 0x40004000     # V only at level 0
.macro EXPECT name, cause, tval
    LOADTR s0, strap, TR_CAUSE
    CHECK "\name-scause", s0, \cause
    LOADTR s0, strap, TR_TVAL
    CHECK "\name-stval", s0, \tval
.endm
.macro MAP va, flags
    la a0, root
    li a1, \va
    la a2, page
    li a3, \flags
    la a4, l2
    call map_page
.endm
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, strap_record
    li t1, (1 << 12) | (1 << 13) | (1 << 15)
    csrw medeleg, t1
    MAP_KERNEL root                 # RAM and the UART, identity-mapped megapages
    MAP VA_INVALID, 0
    MAP VA_RO, PTE_V | PTE_R | PTE_A
    MAP VA_WONLY, PTE_V | PTE_W | PTE_A | PTE_D
    MAP VA_NOX, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    MAP VA_NONLEAF, PTE_V
    la t1, root
    srli t1, t1, 12
    li t2, SATP_SV32
    or t1, t1, t2
    csrw satp, t1
    sfence.vma
    GOTO_S
    li s1, VA_INVALID + 0x123
    lb s2, 0(s1)
    EXPECT "invalid-load", 13, VA_INVALID + 0x123
    li s1, VA_INVALID + 0x124
    sw zero, 0(s1)
    EXPECT "invalid-store", 15, VA_INVALID + 0x124
    li s1, VA_RO + 0x10
    lw s2, 0(s1)                    # fine
    sw zero, 0(s1)
    EXPECT "readonly-store", 15, VA_RO + 0x10
    amoadd.w s2, zero, (s1)         # AMOs need write permission: store/AMO fault
    EXPECT "readonly-amo", 15, VA_RO + 0x10
    li s1, VA_WONLY + 8
    lw s2, 0(s1)
    EXPECT "write-only-load", 13, VA_WONLY + 8
    li s1, VA_NOX + 0x40
    jalr ra, 0(s1)                  # fetch fault: the handler resumes at ra
    EXPECT "nox-fetch", 12, VA_NOX + 0x40
    LOADTR s0, strap, TR_EPC
    CHECK "nox-fetch-sepc", s0, VA_NOX + 0x40
    li s1, VA_NONLEAF
    lw s2, 0(s1)
    EXPECT "nonleaf-last-level", 13, VA_NONLEAF
    LOADTR s0, strap, TR_COUNT
    CHECK "s-traps", s0, 7
    LOADTR s0, mtrap, TR_COUNT
    CHECK "m-traps", s0, 0
    ecall
    csrw satp, zero
    TEST_END

    .bss
    .align 12
root: .space 4096
l2:   .space 4096
page: .space 4096
