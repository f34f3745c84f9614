# h_two_stage: VS-stage Sv32 (vsatp) x G-stage Sv32x4 (hgatp, 16 KiB root). Guest VA
# 0xc0000000 -> GPA 0x40000000 -> host page `hpage`. Hardware sets A/D in both stages'
# leaf PTEs. With vsatp bare only the G-stage applies.
.include "vmkit_test.inc"
.option arch, +h
    .equ GVA0, 0xc0000000
    .equ GPA0, 0x40000000
main:
    SET_TVEC mtvec, mtrap_record
    la a0, vroot
    la a1, groot
    call map_guest_identity
    la a0, groot                    # G-stage: GPA0 -> hpage, U R W without A/D
    li a1, GPA0
    la a2, hpage
    li a3, PTE_V | PTE_R | PTE_W | PTE_U
    la a4, gl2
    call map_page
    la a0, vroot                    # VS-stage: GVA0 -> GPA0, R W without A/D
    li a1, GVA0
    li a2, GPA0
    li a3, PTE_V | PTE_R | PTE_W
    la a4, vl2
    call map_page
    la t1, hpage
    li t2, 0xfeedf00d
    sw t2, 8(t1)
    PAGING_ON hgatp, groot
    PAGING_ON vsatp, vroot
    hfence.gvma
    hfence.vvma
    csrr s0, hgatp
    li t1, 0x80000000
    and s0, s0, t1
    CHECK "hgatp-mode", s0, 0x80000000
    GOTO_VS
    li s1, GVA0
    lw s0, 8(s1)
    CHECK "vs-load", s0, 0xfeedf00d
    li t1, 0x0dd0beef
    sw t1, 12(s1)
    la a0, vl2                      # VS PTE (guest memory, identity) after load + store
    li a1, GVA0
    call pte_addr
    lw s0, 0(a0)
    andi s0, s0, 0xff
    CHECK "vs-pte-flags", s0, 0xc7
    ecall
    la t1, hpage
    lw s0, 12(t1)
    CHECK "host-sees-store", s0, 0x0dd0beef
    la a0, gl2
    li a1, GPA0
    call pte_addr
    lw s0, 0(a0)
    andi s0, s0, 0xff
    CHECK "g-pte-flags", s0, 0xd7
    csrw vsatp, zero                # only the G-stage: VS addresses are GPAs
    hfence.vvma
    GOTO_VS
    li s1, GPA0
    lw s0, 12(s1)
    CHECK "vsatp-bare-load", s0, 0x0dd0beef
    ecall
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps", s0, 0
    csrw hgatp, zero
    TEST_END

    .bss
    .align 14
groot: .space 16384
gl2:   .space 4096
vroot: .space 4096
vl2:   .space 4096
hpage: .space 4096
