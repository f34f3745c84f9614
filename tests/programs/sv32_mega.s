# sv32_mega: Sv32 with 4 MiB megapages (one-level leaves). S runs through an identity map of
# RAM and the UART (so it can print), reads and writes RAM through an alias at 0x40000000, and
# a megapage whose PPN[0] is not zero is a misaligned superpage: load page fault (13, stval=VA).
.include "vmkit_test.inc"
    .equ ALIAS, 0x40000000          # -> 0x80000000
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, strap_record
    li t1, (1 << 12) | (1 << 13) | (1 << 15)
    csrw medeleg, t1
    MAP_KERNEL root                 # RAM and the UART, identity-mapped megapages
    la a0, root
    li a1, ALIAS
    li a2, 0x80000000
    li a3, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    call map_mega
    la a0, root
    li a1, ALIAS + 0x400000         # PA 0x80001000: PPN[0] = 1, misaligned megapage
    li a2, 0x80001000
    li a3, PTE_V | PTE_R | PTE_A
    call map_mega
    la t1, root
    srli t1, t1, 12
    li t2, SATP_SV32
    or t1, t1, t2
    csrw satp, t1
    sfence.vma
    GOTO_S                          # from here on every S access is translated
    la s1, value                    # identity
    li t1, 0x5eed1234
    sw t1, 0(s1)
    li t1, ALIAS - 0x80000000
    add s2, s1, t1                  # the same word through the alias
    lw s0, 0(s2)
    CHECK "alias-read", s0, 0x5eed1234
    li t1, 0x0badcafe
    sw t1, 0(s2)
    lw s0, 0(s1)
    CHECK "alias-write", s0, 0x0badcafe
    li s3, ALIAS + 0x400010
    lw s0, 0(s3)                    # misaligned superpage
    LOADTR s0, strap, TR_CAUSE
    CHECK "misaligned-mega-scause", s0, 13
    LOADTR s0, strap, TR_TVAL
    li t1, ALIAS + 0x400010
    CHECK "misaligned-mega-stval", s0, ALIAS + 0x400010
    LOADTR s0, mtrap, TR_COUNT
    CHECK "m-traps", s0, 0
    ecall
    csrw satp, zero
    TEST_END

    .data
value: .word 0
    .bss
    .align 12
root: .space 4096
