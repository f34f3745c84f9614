# sv32_4k: two-level Sv32 (4 KiB pages) and the A/D bits: QEMU 7.2 (and vmkit) set PTE.A on
# any access and PTE.D on a store in hardware (the spec allows this or a page fault).
.include "vmkit_test.inc"
    .equ VA0, 0x40000000            # -> page0, PTE with V R W only
    .equ VA1, 0x40001000            # -> page1, PTE with V R W A D
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, strap_record
    li t1, (1 << 12) | (1 << 13) | (1 << 15)
    csrw medeleg, t1
    MAP_KERNEL root                 # RAM and the UART, identity-mapped megapages
    la a0, root
    li a1, VA0
    la a2, page0
    li a3, PTE_V | PTE_R | PTE_W
    la a4, l2
    call map_page
    la a0, root
    li a1, VA1
    la a2, page1
    li a3, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    la a4, l2
    call map_page
    la s1, page0
    li t1, 0x11111111
    sw t1, 8(s1)
    la t1, root
    srli t1, t1, 12
    li t2, SATP_SV32
    or t1, t1, t2
    csrw satp, t1
    sfence.vma
    GOTO_S
    la a0, l2
    li a1, VA0
    call pte_addr
    mv s2, a0                       # s2 = &PTE(VA0), readable through the identity map
    lw s0, 0(s2)
    andi s0, s0, 0xff
    CHECK "pte-flags-initial", s0, 0x07
    li s3, VA0
    lw s0, 8(s3)
    CHECK "read-through-4k", s0, 0x11111111
    lw s0, 0(s2)
    andi s0, s0, 0xff
    CHECK "pte-after-load-A", s0, 0x47
    li t1, 0x22222222
    sw t1, 12(s3)
    lw s0, 0(s2)
    andi s0, s0, 0xff
    CHECK "pte-after-store-AD", s0, 0xc7
    lw s0, 12(s1)                   # identity view of the same physical page
    CHECK "store-landed", s0, 0x22222222
    li s4, VA1 + 0xffc              # last word of the second page
    li t1, 0x33333333
    sw t1, 0(s4)
    la t1, page1 + 0xffc
    lw s0, 0(t1)
    CHECK "page1-last-word", s0, 0x33333333
    la t1, root                     # the non-leaf root entry: A/D untouched (spec: reserved)
    li t2, (VA0 >> 22) * 4
    add t1, t1, t2
    lw s0, 0(t1)
    andi s0, s0, 0xff
    CHECK "nonleaf-flags", s0, 0x01
    LOADTR s0, strap, TR_COUNT
    CHECK "s-traps", s0, 0
    ecall
    csrw satp, zero
    TEST_END

    .bss
    .align 12
root:  .space 4096
l2:    .space 4096
page0: .space 4096
page1: .space 4096
