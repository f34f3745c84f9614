# h_mprv_mpv: with mstatus.MPRV = 1 and mstatush.MPV = 1, M-mode loads and stores use the
# guest's two-stage translation (VS-stage vsatp x G-stage hgatp) with privilege MPP, exactly
# as a VS (MPP = S) access would; MPV = 0 goes back to plain satp (bare here: physical).
.include "vmkit_test.inc"
.option arch, +h
    .equ GVA, 0xc0000000            # VS: -> GPA
    .equ GPA, 0x40000000            # G: -> hpage
main:
    SET_TVEC mtvec, mtrap_record
    la a0, vroot
    la a1, groot
    call map_guest_identity
    la a0, groot
    li a1, GPA
    la a2, hpage
    li a3, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
    la a4, gl2
    call map_page
    la a0, vroot
    li a1, GVA
    li a2, GPA
    li a3, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    la a4, vl2
    call map_page
    la t1, hpage
    li t2, 0x76543210
    sw t2, 0(t1)
    PAGING_ON hgatp, groot
    PAGING_ON vsatp, vroot
    hfence.gvma
    hfence.vvma
    la s3, hpage                    # physical address, used after MPV is cleared again
    li s1, GVA
    li t1, MSTATUS_MPP              # MPP = S, MPV = 1, MPRV = 1
    csrc mstatus, t1
    li t1, 1 << 11
    csrs mstatus, t1
    li t1, MSTATUSH_MPV
    csrs mstatush, t1
    li t1, MSTATUS_MPRV
    csrs mstatus, t1
    lw s2, 0(s1)                    # GVA -> GPA -> hpage
    li t2, 0x0f1e2d3c
    sw t2, 4(s1)
    li t1, MSTATUSH_MPV             # MPV = 0: satp is bare, the access is physical
    csrc mstatush, t1
    lw s4, 4(s3)
    li t1, MSTATUS_MPRV
    csrc mstatus, t1
    CHECK "mprv-mpv-load", s2, 0x76543210
    CHECK "mprv-mpv0-load-physical", s4, 0x0f1e2d3c
    la t1, hpage
    lw s0, 4(t1)
    CHECK "mprv-mpv-store", s0, 0x0f1e2d3c
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps", s0, 0
    li t1, MSTATUS_MPP
    csrs mstatus, t1
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
