# h_guest_page_fault: G-stage faults: instruction (20), load (21), store/AMO (23) guest-page
# faults. To M: mtval = the guest virtual address, mtval2 = guest physical address >> 2,
# mstatush.GVA = 1, MPV = 1. Also faulting: a G-stage leaf without U, a read-only G-stage
# page, a VS-stage page-table walk that touches an unmapped GPA (mtval2 = that PTE's GPA >> 2),
# and VS with vsatp bare (GVA = GPA). Delegated with medeleg[21], the fault goes to HS:
# scause 21, stval = GVA, htval = GPA >> 2, hstatus.GVA = 1, SPV = 1.
.include "vmkit_test.inc"
.option arch, +h
    .equ GPA_MAPPED, 0x40000000     # G: -> hpage, U R W
    .equ GPA_HOLE, 0x40002000       # G: nothing
    .equ GPA_NOU, 0x40003000        # G: -> hpage, R W without U
    .equ GPA_RO, 0x40004000         # G: -> hpage, U R
    .equ GPA_L2HOLE, 0x40005000     # G: nothing; VS uses it as a page table
    .equ VA_HOLE, 0xc0002000        # VS: -> GPA_HOLE
    .equ VA_NOU, 0xc0003000
    .equ VA_RO, 0xc0004000
    .equ VA_WALK, 0xc0400000        # VS root entry -> table at GPA_L2HOLE
# mtinst/htinst: 0 for explicit accesses (allowed: no transformed instruction), and the
# pseudoinstruction 0x00002000 (32-bit implicit read) for the VS-stage walk, as QEMU 7.2 does.
.macro EXPECT name, cause, tval, tval2, tinst=0
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "\name-mcause", s0, \cause
    LOADTR s0, mtrap, TR_TVAL
    CHECK "\name-mtval", s0, \tval
    LOADTR s0, mtrap, TR_TVAL2
    CHECK "\name-mtval2", s0, \tval2
    LOADTR s0, mtrap, TR_STATUSH
    CHECK "\name-mstatush", s0, MSTATUSH_MPV | MSTATUSH_GVA
    LOADTR s0, mtrap, TR_TINST
    CHECK "\name-mtinst", s0, \tinst
.endm
.macro GMAP gpa, flags
    la a0, groot
    li a1, \gpa
    la a2, hpage
    li a3, \flags
    la a4, gl2
    call map_page
.endm
.macro VMAP va, gpa
    la a0, vroot
    li a1, \va
    li a2, \gpa
    li a3, PTE_RWX_AD
    la a4, vl2
    call map_page
.endm
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, hstrap_record
    la a0, vroot
    la a1, groot
    call map_guest_identity
    GMAP GPA_MAPPED, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
    GMAP GPA_NOU, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    GMAP GPA_RO, PTE_V | PTE_R | PTE_U | PTE_A
    VMAP VA_HOLE, GPA_HOLE
    VMAP VA_NOU, GPA_NOU
    VMAP VA_RO, GPA_RO
    la t1, vroot + (VA_WALK >> 22) * 4
    li t2, ((GPA_L2HOLE >> 12) << 10) | PTE_V
    sw t2, 0(t1)
    PAGING_ON hgatp, groot
    PAGING_ON vsatp, vroot
    hfence.gvma
    hfence.vvma
    li t1, MSTATUSH_GVA
    csrc mstatush, t1
    GOTO_VS
    li s1, VA_HOLE + 0x10
    lw s2, 0(s1)
    ecall
    EXPECT "load", 21, VA_HOLE + 0x10, (GPA_HOLE + 0x10) >> 2
    GOTO_VS
    li s1, VA_HOLE + 0x24
    sw zero, 0(s1)
    ecall
    EXPECT "store", 23, VA_HOLE + 0x24, (GPA_HOLE + 0x24) >> 2
    GOTO_VS
    li s1, VA_HOLE + 0x40
    jalr ra, 0(s1)
    ecall
    EXPECT "fetch", 20, VA_HOLE + 0x40, (GPA_HOLE + 0x40) >> 2
    GOTO_VS
    li s1, VA_NOU + 8
    lw s2, 0(s1)
    ecall
    EXPECT "no-u", 21, VA_NOU + 8, (GPA_NOU + 8) >> 2
    GOTO_VS
    li s1, VA_RO + 4
    lw s2, 0(s1)                    # allowed
    amoswap.w s2, zero, (s1)        # AMO: store/AMO guest-page fault
    ecall
    EXPECT "readonly-amo", 23, VA_RO + 4, (GPA_RO + 4) >> 2
    GOTO_VS
    li s1, VA_WALK + 0x3010         # walk reads the PTE at GPA_L2HOLE + 3 * 4
    lw s2, 0(s1)
    ecall
    EXPECT "walk", 21, VA_WALK + 0x3010, (GPA_L2HOLE + 12) >> 2, 0x00002000
    csrw vsatp, zero
    hfence.vvma
    GOTO_VS
    li s1, GPA_HOLE + 0x30
    lw s2, 0(s1)
    ecall
    EXPECT "vsatp-bare", 21, GPA_HOLE + 0x30, (GPA_HOLE + 0x30) >> 2
    LOADTR s0, mtrap, TR_COUNT
    CHECK "m-count", s0, 7
    li t1, 1 << 21                  # delegate load guest-page faults to HS
    csrw medeleg, t1
    li t1, HSTATUS_GVA
    csrc hstatus, t1
    GOTO_VS
    li s1, GPA_HOLE + 0x50
    lw s2, 0(s1)
    ecall
    LOADTR s0, strap, TR_CAUSE
    CHECK "hs-scause", s0, 21
    LOADTR s0, strap, TR_TVAL
    CHECK "hs-stval", s0, GPA_HOLE + 0x50
    LOADTR s0, strap, TR_TVAL2
    CHECK "hs-htval", s0, (GPA_HOLE + 0x50) >> 2
    LOADTR s0, strap, TR_TINST
    CHECK "hs-htinst", s0, 0
    LOADTR s0, strap, TR_STATUSH
    li t1, HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP
    and s0, s0, t1
    CHECK "hs-hstatus", s0, HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP
    LOADTR s0, mtrap, TR_COUNT
    CHECK "m-count-after", s0, 7
    csrw hgatp, zero
    TEST_END

    .bss
    .align 14
groot: .space 16384
gl2:   .space 4096
vroot: .space 4096
vl2:   .space 4096
hpage: .space 4096
