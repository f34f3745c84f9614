# warl_s: WARL read-back of the S-mode CSRs (written from M) after all ones / zero; the
# values are this machine's specification, checked against QEMU 7.2.
.include "vmkit_test.inc"
main:
    li t1, (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI)
    csrw mideleg, t1                # sie/sip show only delegated bits
    # sstatus: the S view of mstatus: SIE SPIE SPP VS(10:9) SUM MXR, SD (VS dirty)
    WARL sstatus, 0x800c0722, 0x00000000
    WARL sie, 0x00000222, 0x00000000
    # sip: only SSIP is writable from S (STIP/SEIP come from M / the PLIC)
    WARL sip, 0x00000002, 0x00000000
    WARL scounteren, 0xffffffff, 0x00000000
    WARL sscratch, 0xffffffff, 0x00000000
    WARL sepc, 0xfffffffc, 0x00000000, 0xfffffffc   # bits 1:0 masked, as mepc in warl_m
    WARL scause, 0xffffffff, 0x00000000
    WARL stval, 0xffffffff, 0x00000000
    WARL senvcfg, 0x00000001, 0x00000000, 0x00000001 # FIOM; Zicbo* bits masked (see warl_m)
    # satp: MODE (31) | ASID (30:22, 9 bits) | PPN (21:0); written from M, no effect on M
    WARL satp, 0xffffffff, 0x00000000
    li t1, 0x80400000 | 0x12345     # ASID 1, a PPN
    csrw satp, t1
    csrr s0, satp
    csrw satp, zero
    CHECK "satp-asid1", s0, 0x80412345
    csrr s2, stvec                  # stvec: MODE 0/1 kept, MODE 3 write ignored
    li t1, 0xfffffffd
    csrw stvec, t1
    csrr s0, stvec
    CHECK "stvec-vectored", s0, 0xfffffffd
    li t1, 0x80000200
    csrw stvec, t1
    li t1, -1
    csrw stvec, t1
    csrr s0, stvec
    CHECK "stvec-mode3-ignored", s0, 0x80000200
    csrw stvec, s2
    li t1, MSTATUS_MPP
    csrs mstatus, t1
    TEST_END
