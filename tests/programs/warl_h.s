# warl_h: WARL read-back of the hypervisor and VS CSRs (written from M) after all ones /
# zero; the values are this machine's specification, checked against QEMU 7.2.
.include "vmkit_test.inc"
.option arch, +h
main:
    # hstatus: GVA(6) SPV(7) SPVP(8) HU(9) VTVM(20) VTW(21) VTSR(22) are checked. QEMU 7.2
    # stores every other bit too (VGEIN although GEILEN = 0, WPRI bits): masked.
    WARL hstatus, 0x007003c0, 0x00000000, 0x007003c0
    # hedeleg: 0-8, 12, 13, 15 delegable to VS; 9-11 and 20-23 (traps from VS / to HS) are not
    WARL hedeleg, 0x0000b1ff, 0x00000000
    WARL hideleg, 0x00000444, 0x00000000             # VSSI VSTI VSEI
    WARL hie, 0x00001444, 0x00000000                 # VS bits and SGEIE (12), as in mie
    WARL hip, 0x00000004, 0x00000000                 # only VSSIP is writable (alias of hvip)
    WARL hvip, 0x00000444, 0x00000000
    WARL hcounteren, 0xffffffff, 0x00000000
    WARL htval, 0xffffffff, 0x00000000
    # htinst need only hold values the hart writes on traps; QEMU 7.2 ignores writes
    WARL htinst, 0x00000000, 0x00000000
    WARL hgeie, 0x00000000, 0x00000000
    WARL henvcfg, 0x00000001, 0x00000000, 0x00000001 # FIOM; Zicbo*/PBMT bits masked
    # hgatp: MODE (31) | VMID (28:22, 7 bits on RV32) | PPN (21:0). The spec has bits 30:29
    # and PPN[1:0] (16 KiB-aligned Sv32x4 root) read 0; QEMU 7.2 stores them: masked.
    WARL hgatp, 0x9ffffffc, 0x00000000, 0x9ffffffc
    # vsstatus: the sstatus fields SIE SPIE SPP VS SUM MXR are checked; QEMU 7.2 stores all
    # 32 bits (SD and WPRI bits included): masked.
    WARL vsstatus, 0x000c0722, 0x00000000, 0x000c0722
    # hideleg = 0: vsie/vsip show nothing
    WARL vsie, 0x00000000, 0x00000000
    WARL vsscratch, 0xffffffff, 0x00000000
    WARL vsepc, 0xfffffffc, 0x00000000, 0xfffffffc
    WARL vscause, 0xffffffff, 0x00000000
    WARL vstval, 0xffffffff, 0x00000000
    WARL vsatp, 0xffffffff, 0x00000000
    li t1, 0x444
    csrw hideleg, t1
    WARL vsie, 0x00000222, 0x00000000                # VS bits appear at the S positions
    WARL vsip, 0x00000002, 0x00000000                # only VSSIP (as SSIP) is writable
    csrw hideleg, zero
    li t1, MSTATUS_MPP
    csrs mstatus, t1
    TEST_END
