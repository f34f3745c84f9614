# h_hlv_hsv: hypervisor loads/stores (HLV/HLVX/HSV) access memory as VS (hstatus.SPVP = 1) or
# VU (SPVP = 0) would: two-stage translation, sign/zero extension. Allowed in M and HS; in U
# only with hstatus.HU = 1 (else illegal, 2).
# Faulting HLVs are not tested: QEMU 7.2 reports a VS-stage page fault on an HLV as an access
# fault (5) without GVA, and skips the U-bit check for SPVP = 0 (the spec: load page fault 13,
# mtval = guest VA, GVA = 1).
# HLVX is only used on an R+X page: QEMU 7.2 checks R instead of X for HLVX (it faults on
# execute-only pages and reads read-only ones), so those spec cases are not tested; nor is
# mtval of an illegal HLV (QEMU 7.2 leaves 0 instead of the instruction bits).
.include "vmkit_test.inc"
.option arch, +h
    .equ GVA_RW, 0xc0000000         # VS: -> GPA_DATA, R W (supervisor)
    .equ GVA_X, 0xc0001000          # VS: -> GPA_DATA, R X
    .equ GVA_U, 0xc0002000          # VS: -> GPA_DATA, R W U
    .equ GPA_DATA, 0x40000000       # G: -> hpage
.macro VMAP va, flags
    la a0, vroot
    li a1, \va
    li a2, GPA_DATA
    li a3, \flags
    la a4, vl2
    call map_page
.endm
main:
    SET_TVEC mtvec, mtrap_record
    la a0, vroot
    la a1, groot
    call map_guest_identity
    la a0, groot
    li a1, GPA_DATA
    la a2, hpage
    li a3, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D
    la a4, gl2
    call map_page
    VMAP GVA_RW, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    VMAP GVA_X, PTE_V | PTE_R | PTE_X | PTE_A
    VMAP GVA_U, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
    la t1, hpage
    li t2, 0x8899aabb
    sw t2, 0(t1)
    PAGING_ON hgatp, groot
    PAGING_ON vsatp, vroot
    hfence.gvma
    hfence.vvma
    li t1, HSTATUS_SPVP             # access as VS
    csrs hstatus, t1
    li s1, GVA_RW
    hlv.w s0, (s1)
    CHECK "m-hlv.w", s0, 0x8899aabb
    addi s2, s1, 3
    hlv.b s0, (s2)                  # byte 3 = 0x88
    CHECK "m-hlv.b", s0, 0xffffff88
    hlv.bu s0, (s2)
    CHECK "m-hlv.bu", s0, 0x88
    addi s2, s1, 2
    hlv.h s0, (s2)
    CHECK "m-hlv.h", s0, 0xffff8899
    hlv.hu s0, (s2)
    CHECK "m-hlv.hu", s0, 0x8899
    li t1, 0x12345678
    addi s2, s1, 4                  # HLV/HSV take no offset: (rs1) only
    hsv.w t1, (s2)
    addi s2, s1, 8
    li t1, 0xabcd
    hsv.h t1, (s2)
    addi s2, s1, 10
    li t1, 0xef
    hsv.b t1, (s2)
    la t1, hpage
    lw s0, 4(t1)
    CHECK "m-hsv.w", s0, 0x12345678
    la t1, hpage
    lw s0, 8(t1)
    CHECK "m-hsv.h-b", s0, 0x00efabcd
    li s3, GVA_X
    hlvx.wu s0, (s3)
    CHECK "m-hlvx.wu", s0, 0x8899aabb
    addi s2, s3, 2
    hlvx.hu s0, (s2)
    CHECK "m-hlvx.hu", s0, 0x8899
    li t1, HSTATUS_SPVP
    csrs hstatus, t1
    GOTO_S                          # HS: same instructions, and the faults
    li s1, GVA_RW
    addi s2, s1, 4
    hlv.w s5, (s2)
    hlvx.hu s6, (s3)
    li t1, HSTATUS_SPVP             # access as VU: a U page
    csrc hstatus, t1
    li s4, GVA_U
    hlv.w s8, (s4)
    li t1, HSTATUS_SPVP
    csrs hstatus, t1
    ecall
    CHECK "hs-hlv.w", s5, 0x12345678
    CHECK "hs-hlvx.hu", s6, 0xaabb
    CHECK "hs-hlv-vu-user", s8, 0x8899aabb
    LOADTR s0, mtrap, TR_COUNT
    CHECK "hs-traps", s0, 0
    GOTO_U                          # U with HU = 0: illegal
    hlv.w s5, (s1)
    ecall
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "u-hu0-cause", s0, 2
    li t1, HSTATUS_SPVP             # access as VU: the U page needs no SUM (QEMU 7.2 would
    csrc hstatus, t1                # use mstatus.SUM for SPVP=1 here, the spec vsstatus.SUM)
    li t1, HSTATUS_HU
    csrs hstatus, t1
    GOTO_U
    li s5, 0
    li s2, GVA_U + 8
    hlv.w s5, (s2)
    ecall
    CHECK "u-hu1-hlv.w", s5, 0x00efabcd
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps", s0, 1
    csrw hstatus, zero
    csrw hgatp, zero
    csrw vsatp, zero
    TEST_END

    .bss
    .align 14
groot: .space 16384
gl2:   .space 4096
vroot: .space 4096
vl2:   .space 4096
hpage: .space 4096
