# csr_ops: csrrw/csrrs/csrrc and the immediate forms on mscratch (old value to rd, new value
# written); rs1 = x0 / uimm = 0 for csrrs/csrrc means "no write", so a read-only CSR can be
# read that way, while csrrw (always writes) to a read-only CSR is illegal (cause 2).
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
    li t1, 0x12345678
    csrrw s0, mscratch, t1          # old value unknown: write twice
    li t1, 0x0000f0f0
    csrrw s0, mscratch, t1
    CHECK "csrrw-old", s0, 0x12345678
    li t1, 0x00ff0000
    csrrs s0, mscratch, t1
    CHECK "csrrs-old", s0, 0x0000f0f0
    csrr s0, mscratch
    CHECK "csrrs-new", s0, 0x00fff0f0
    li t1, 0x000ff000
    csrrc s0, mscratch, t1
    csrr s0, mscratch
    CHECK "csrrc-new", s0, 0x00f000f0
    csrrwi s0, mscratch, 0x1f       # 5-bit zero-extended immediate
    CHECK "csrrwi-old", s0, 0x00f000f0
    csrr s0, mscratch
    CHECK "csrrwi-new", s0, 0x1f
    csrrsi s0, mscratch, 0x10
    csrrci s0, mscratch, 0x03
    csrr s0, mscratch
    CHECK "csrrsi-csrrci", s0, 0x1c
    csrw mscratch, zero
    csrr s0, mscratch
    CHECK "csrw-zero", s0, 0
    csrrs s0, mhartid, zero         # read-only CSR, rs1 = x0: no write, no trap
    csrrci s0, mhartid, 0           # uimm = 0: no write, no trap
    LOADTR s0, mtrap, TR_COUNT
    CHECK "ro-read-traps", s0, 0
1:  csrrw s0, mhartid, zero         # csrrw always writes: illegal even with rs1 = x0
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "ro-write-cause", s0, 2
    LOADTR s0, mtrap, TR_TVAL       # mtval = the instruction bits: csrrw s0, mhartid, x0
    CHECK "ro-write-tval", s0, 0xf1401473
    li t1, 1
2:  csrrs s0, mvendorid, t1         # rs1 != x0: a write attempt, illegal
    LOADTR s0, mtrap, TR_COUNT
    CHECK "ro-set-traps", s0, 2
    li s2, 7                        # rd is not written when the instruction traps
    csrrs s2, mvendorid, t1
    CHECK "rd-unchanged", s2, 7
    TEST_END
