# h_vs_interrupts: VS-level interrupts. hvip.VSSIP/VSTIP/VSEIP (bits 2/6/10) inject them;
# with hideleg they trap to VS with the codes moved down to the S ones (0x80000001/5/9) and
# vsie/vsip show them at bits 1/5/9. They are never taken with V = 0. Without hideleg they
# trap to HS as 0x80000002 (HS interrupts are always enabled while V = 1).
.include "vmkit_test.inc"
.option arch, +h
.macro VS_TAKE
    GOTO_VS
    csrsi sstatus, MSTATUS_SIE      # vsstatus.SIE
    nop
    csrci sstatus, MSTATUS_SIE
    ecall
.endm
main:
    SET_TVEC mtvec, mtrap_record
    SET_TVEC stvec, hstrap_record
    SET_TVEC vstvec, strap_record
    li t1, 0x444
    csrw hideleg, t1
    csrw hie, t1
    li t1, 1 << IRQ_VSSI
    csrw hvip, t1
    csrr s0, vsip                   # VSSIP appears as SSIP
    CHECK "vsip", s0, 0x2
    csrr s0, vsie
    CHECK "vsie", s0, 0x222
    csrr s0, hip
    CHECK "hip", s0, 0x4
    GOTO_S                          # HS with SIE = 1: a VS interrupt is not taken
    csrsi sstatus, MSTATUS_SIE
    nop
    csrci sstatus, MSTATUS_SIE
    ecall
    LOADTR s0, strap, TR_COUNT
    CHECK "not-taken-in-hs", s0, 0
    VS_TAKE
    LOADTR s0, strap, TR_CAUSE
    CHECK "vssi-vscause", s0, 0x80000001
    csrr s0, hie                    # the VS handler masked vsie.SSIE = hie.VSSIE
    CHECK "hie-after-vs-handler", s0, 0x440
    csrw hvip, zero
    li t1, 0x444
    csrw hie, t1
    li t1, 1 << IRQ_VSTI
    csrw hvip, t1
    VS_TAKE
    LOADTR s0, strap, TR_CAUSE
    CHECK "vsti-vscause", s0, 0x80000005
    li t1, 1 << IRQ_VSEI
    csrw hvip, t1
    VS_TAKE
    LOADTR s0, strap, TR_CAUSE
    CHECK "vsei-vscause", s0, 0x80000009
    csrw hvip, zero
    GOTO_VS                         # VS raises its own software interrupt via sip.SSIP
    li t1, 1 << IRQ_SSI
    csrs sie, t1
    csrs sip, t1                    # = hvip.VSSIP
    csrsi sstatus, MSTATUS_SIE
    nop
    csrci sstatus, MSTATUS_SIE
    ecall
    LOADTR s0, strap, TR_COUNT
    CHECK "vs-count", s0, 4
    csrr s0, hvip
    CHECK "hvip-set-by-vs", s0, 0x4
    csrw hideleg, zero              # not delegated: VSSIP goes to HS
    li t1, 1 << IRQ_VSSI
    csrw hie, t1
    GOTO_VS
    nop
    ecall
    LOADTR s0, strap, TR_CAUSE
    CHECK "hs-scause", s0, 0x80000002
    LOADTR s0, strap, TR_STATUSH
    andi s0, s0, HSTATUS_SPV
    CHECK "hs-spv", s0, HSTATUS_SPV
    csrr s0, hie                    # masked by hstrap_record
    CHECK "hie-end", s0, 0
    csrw hvip, zero
    LOADTR s0, mtrap, TR_COUNT
    CHECK "m-traps", s0, 0
    TEST_END
