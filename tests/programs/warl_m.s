# warl_m: WARL read-back of M-mode CSRs after writing all ones and then zero. These values are
# the machine's specification (RV32IMA + S + U + H, no F/D/V, no Sstc, QEMU 7.2's choices where
# the spec leaves one); vmkit must match them. A mask hides bits where QEMU 7.2 departs from
# the spec, so neither behaviour is required there (noted at each use).
.include "vmkit_test.inc"
main:
    # mstatus: SIE(1) MIE(3) SPIE(5) MPIE(7) SPP(8) VS(10:9) MPP(12:11)=3 MPRV SUM MXR TVM TW
    # TSR (17..22) writable; FS = 0 (no F); VS writable (allowed "optionally" with S and no V,
    # QEMU 7.2 does) so SD (31) = VS dirty; UBE/XS/SBE/MBE read-only 0.
    WARL mstatus, 0x807e1faa, 0x00000000
    WARL mstatush, 0x000000c0, 0x00000000   # GVA (bit 6), MPV (bit 7); MBE/SBE = 0
    # medeleg: every exception that can come from below M (0-10, 12, 13, 15, 20-23); bit 11
    # "should" be read-only 0, QEMU 7.2 keeps it writable; bit 14 (reserved) is 0.
    WARL medeleg, 0x00f0bfff, 0x00000000
    # mideleg: SSI/STI/SEI (1, 5, 9) writable; VSSI/VSTI/VSEI/SGEI (2, 6, 10, 12) read-only 1
    # with H. Mask bit 13 (LCOFI: QEMU 7.2 keeps it writable without Sscofpmf).
    WARL mideleg, 0x00001666, 0x00001444, 0xffffdfff
    # mie: SSIE VSSIE MSIE STIE VSTIE MTIE SEIE VSEIE MEIE SGEIE (1-3, 5-7, 9-12); bit 13 masked.
    WARL mie, 0x00001eee, 0x00000000, 0xffffdfff
    WARL mcounteren, 0xffffffff, 0x00000000
    # mepc: IALIGN = 32, so bits 1:0 read as 0 (spec); QEMU 7.2 stores them: masked.
    WARL mepc, 0xfffffffc, 0x00000000, 0xfffffffc
    WARL mscratch, 0xffffffff, 0x00000000
    WARL mcause, 0xffffffff, 0x00000000
    WARL mtval, 0xffffffff, 0x00000000
    WARL mtval2, 0xffffffff, 0x00000000
    WARL mtinst, 0xffffffff, 0x00000000
    # menvcfg: FIOM (bit 0) checked; the Zicbo* fields (4-7) are writable on QEMU 7.2 although
    # those extensions are off: masked.
    WARL menvcfg, 0x00000001, 0x00000000, 0x00000001
    # mcountinhibit: CY (0) and IR (2) checked; QEMU 7.2 also lets TM (1, read-only 0 in the
    # spec) and the absent hpm bits be written: masked.
    WARL mcountinhibit, 0x00000005, 0x00000000, 0x00000005
    # mtvec: MODE 0 (direct) and 1 (vectored) are kept; MODE >= 2 is reserved: QEMU 7.2 (and
    # vmkit) ignore such a write, so mtvec keeps its previous value.
    csrr s2, mtvec
    li t1, 0xfffffffd
    csrw mtvec, t1
    csrr s0, mtvec
    CHECK "mtvec-vectored", s0, 0xfffffffd
    li t1, 0x80000100
    csrw mtvec, t1
    csrr s0, mtvec
    CHECK "mtvec-direct", s0, 0x80000100
    li t1, -1
    csrw mtvec, t1
    csrr s0, mtvec
    CHECK "mtvec-mode3-ignored", s0, 0x80000100
    csrw mtvec, s2
    li t1, MSTATUS_MPP              # leave MPP = M like the start state
    csrs mstatus, t1
    TEST_END
