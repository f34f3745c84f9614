# h_deleg_vs: exception delegation through two levels. medeleg sends 2, 3, 4, 8 from below M
# to HS; hedeleg sends 3, 4 and 8 on to VS (vstvec; vscause/vstval/vsepc; vsstatus.SPP), while
# 2 stays in HS (scause 2, hstatus.SPV = 1, SPVP = the VS-level privilege: 0 from VU, 1 from
# VS). ecall from VS (10) is not delegated: M. hgatp/vsatp are bare, so every mode can print.
# (QEMU 7.2 writes the wrong vscause for exceptions 2, 6 and 10 delegated to VS: it applies the
# VS-interrupt renumbering to them. Those codes are therefore not delegated to VS here.)
.include "vmkit_test.inc"
.option arch, +h
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, hstrap_record
    SET_TVEC vstvec, strap_record
    li t1, (1 << 2) | (1 << 3) | (1 << 4) | (1 << 8)
    csrw medeleg, t1
    li t1, (1 << 3) | (1 << 4) | (1 << 8)
    csrw hedeleg, t1
    GOTO_VU
    csrr s1, mstatus                # illegal -> HS (hstrap_record)
    LOADTR s0, strap, TR_CAUSE
    CHECK "vu-illegal-scause", s0, 2
    LOADTR s0, strap, TR_TVAL
    CHECK "vu-illegal-stval", s0, 0x300024f3
    LOADTR s0, strap, TR_STATUSH
    li t1, HSTATUS_SPV | HSTATUS_SPVP
    and s0, s0, t1
    CHECK "vu-illegal-hstatus", s0, HSTATUS_SPV
1:  ebreak                          # -> VS (strap_record runs in VS)
    LOADTR s0, strap, TR_CAUSE
    CHECK "vu-ebreak-vscause", s0, 3
    LOADTR s0, strap, TR_EPC
    la t1, 1b
    sub s0, s0, t1
    CHECK "vu-ebreak-vsepc-offset", s0, 0
    LOADTR s0, strap, TR_STATUS     # vsstatus.SPP = 0: came from VU
    andi s0, s0, MSTATUS_SPP
    CHECK "vu-ebreak-vsstatus-spp", s0, 0
    la s2, word + 2
    lr.w s1, (s2)                   # misaligned -> VS: vscause 4, vstval = the address
    LOADTR s0, strap, TR_CAUSE
    CHECK "vu-lr-vscause", s0, 4
    LOADTR s0, strap, TR_TVAL
    sub s0, s0, s2
    CHECK "vu-lr-vstval-offset", s0, 0
    ecall                           # -> VS: strap_record continues in VS after it
    LOADTR s0, strap, TR_CAUSE
    CHECK "vu-ecall-vscause", s0, 8
    ebreak                          # from VS, still delegated to VS: SPP = 1
    LOADTR s0, strap, TR_STATUS
    andi s0, s0, MSTATUS_SPP
    CHECK "vs-ebreak-vsstatus-spp", s0, MSTATUS_SPP
    csrr s1, mstatus                # -> HS, SPVP = 1
    LOADTR s0, strap, TR_STATUSH
    li t1, HSTATUS_SPV | HSTATUS_SPVP
    and s0, s0, t1
    CHECK "vs-illegal-hstatus", s0, HSTATUS_SPV | HSTATUS_SPVP
    ecall                           # 10: not delegated -> M
    LOADTR s0, mecall, TR_CAUSE
    CHECK "vs-ecall-mcause", s0, 10
    csrr s0, vscause                # the VS CSRs as M sees them
    CHECK "vscause", s0, 3
    csrr s0, scause
    CHECK "scause", s0, 2
    LOADTR s0, mtrap, TR_COUNT
    CHECK "m-traps", s0, 0
    GOTO_S                          # from HS, ebreak goes to HS (hedeleg applies only to V=1)
    ebreak
    LOADTR s0, strap, TR_CAUSE
    CHECK "hs-ebreak-scause", s0, 3
    LOADTR s0, strap, TR_STATUSH
    andi s0, s0, HSTATUS_SPV
    CHECK "hs-ebreak-spv", s0, 0
    ecall
    TEST_END
    .data
    .align 2
word: .word 0, 0
