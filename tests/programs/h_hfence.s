# h_hfence: after the hypervisor rewrites a G-stage PTE, hfence.gvma (all, then by GPA >> 2)
# makes the guest see the new host page; after a VS-stage PTE changes, sfence.vma in VS or
# hfence.vvma in HS does. With mstatus.TVM = 1, hfence.gvma in HS is illegal (2) while
# hfence.vvma is not affected.
.include "vmkit_test.inc"
.option arch, +h
    .equ GVA, 0xc0000000
    .equ GPA0, 0x40000000           # G: -> pagea, then pagec, then pagea
    .equ GPA1, 0x40001000           # G: -> pageb
.macro GMAP gpa, page
    la a0, groot
    li a1, \gpa
    la a2, \page
    li a3, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
    la a4, gl2
    call map_page
.endm
# VS_READ reg: enter VS, load the word at GVA into reg, back to M
.macro VS_READ reg
    GOTO_VS
    li t1, GVA
    lw \reg, 0(t1)
    ecall
.endm
main:
    SET_TVEC mtvec, mtrap_record
    la a0, vroot
    la a1, groot
    call map_guest_identity
    GMAP GPA0, pagea
    GMAP GPA1, pageb
    la a0, vroot
    li a1, GVA
    li a2, GPA0
    li a3, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    la a4, vl2
    call map_page
    la t1, pagea
    li t2, 0xaaaa0000
    sw t2, 0(t1)
    la t1, pageb
    li t2, 0xbbbb0000
    sw t2, 0(t1)
    la t1, pagec
    li t2, 0xcccc0000
    sw t2, 0(t1)
    PAGING_ON hgatp, groot
    PAGING_ON vsatp, vroot
    hfence.gvma
    hfence.vvma
    VS_READ s2
    CHECK "initial", s2, 0xaaaa0000
    GMAP GPA0, pagec
    hfence.gvma zero, zero
    VS_READ s2
    CHECK "after-hfence.gvma-all", s2, 0xcccc0000
    GMAP GPA0, pagea
    li t1, GPA0 >> 2                # rs1 = guest physical address >> 2
    hfence.gvma t1, zero
    VS_READ s2
    CHECK "after-hfence.gvma-gpa", s2, 0xaaaa0000
    GOTO_VS                         # the guest remaps GVA -> GPA1 and fences itself
    la a0, vl2
    li a1, GVA
    call pte_addr
    li t1, ((GPA1 >> 12) << 10) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    sw t1, 0(a0)
    li t1, GVA
    sfence.vma t1, zero
    lw s2, 0(t1)
    ecall
    CHECK "vs-sfence.vma", s2, 0xbbbb0000
    GOTO_S                          # HS remaps GVA -> GPA0 and uses hfence.vvma
    la a0, vl2
    li a1, GVA
    call pte_addr
    li t1, ((GPA0 >> 12) << 10) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    sw t1, 0(a0)
    li t1, GVA
    hfence.vvma t1, zero
    ecall
    VS_READ s2
    CHECK "hs-hfence.vvma", s2, 0xaaaa0000
    li t1, MSTATUS_TVM
    csrs mstatus, t1
    GOTO_S
    hfence.vvma
    hfence.gvma
    ecall
    LOADTR s0, mtrap, TR_COUNT
    CHECK "tvm-traps", s0, 1
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "tvm-hfence.gvma-cause", s0, 2
    LOADTR s0, mtrap, TR_TVAL
    CHECK "tvm-hfence.gvma-tval", s0, 0x62000073
    li t1, MSTATUS_TVM
    csrc mstatus, t1
    csrw hgatp, zero
    csrw vsatp, zero
    TEST_END

    .bss
    .align 14
groot: .space 16384
gl2:   .space 4096
vroot: .space 4096
vl2:   .space 4096
pagea: .space 4096
pageb: .space 4096
pagec: .space 4096
