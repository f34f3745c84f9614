# triggers.s - the debug trigger CSRs (Sdtrig: tselect, tdata1-3, tinfo) from M, S and VS.
#
# Debug spec 1.0, section 5.7: the trigger CSRs are M-mode CSRs (0x7A0-0x7A4). A hart may have
# any number of triggers, zero included (vmkit has none, QEMU 7.2 two, Spike four by default),
# so this program checks only what holds for every count:
# * M-mode reads and writes them without a trap;
# * the enumeration the spec gives debuggers ends: write i to tselect, stop when it reads back
#   something else or tdata1.type is 0 ("no trigger at this tselect"); every trigger found has
#   its type's bit set in tinfo, and writing 0 to its tdata1 leaves it disabled (no trap);
# * if the enumeration stopped at an index tselect does hold, that trigger does not exist and
#   tinfo "contains 1";
# * from S-mode and VS-mode they are illegal (cause 2; an M-level CSR is not the hypervisor's
#   to emulate, so not a virtual-instruction exception: privileged spec 8.6.1).
.include "vmkit_test.inc"

main:
    addi sp, sp, -16
    sw ra, 12(sp)
    la t0, mtrap_record
    csrw mtvec, t0

    csrr t0, tselect                # every one readable and writable in M
    csrr t0, tdata1
    csrr t0, tdata2
    csrr t0, tdata3
    csrr t0, tinfo
    csrw tselect, zero
    LOADTR s0, mtrap, TR_COUNT
    CHECK "m-mode-traps", s0, 0

    li s0, 0                        # s0 = index, s1 = triggers whose type is not in tinfo
    li s1, 0
    li s2, 0                        # s2 = 1: stopped at a trigger that does not exist
1:  li t0, 64
    beq s0, t0, 3f                  # (not reached: 64 = no end, reported below)
    csrw tselect, s0
    csrr t0, tselect
    bne t0, s0, 3f                  # tselect cannot hold s0: no more triggers
    csrr t0, tdata1
    srli t0, t0, 28                 # type = tdata1[XLEN-1:XLEN-4]
    beqz t0, 2f                     # type 0: no trigger here
    csrr t1, tinfo
    srl t1, t1, t0
    andi t1, t1, 1
    xori t1, t1, 1
    add s1, s1, t1
    csrw tdata1, zero               # disabled, whatever it was
    addi s0, s0, 1
    j 1b
2:  csrr t0, tinfo                  # a trigger that does not exist: info = 1
    li t1, 0xffff
    and t0, t0, t1
    addi s2, t0, -1
    seqz s2, s2
    j 4f
3:  li s2, 1                        # stopped by tselect: nothing more to check
4:  csrw tselect, zero
    li t0, 64
    sltu s0, s0, t0
    CHECK "enumeration-ends", s0, 1
    CHECK "types-not-in-tinfo", s1, 0
    CHECK "missing-trigger-tinfo", s2, 1
    LOADTR s0, mtrap, TR_COUNT
    CHECK "m-mode-traps", s0, 0

    GOTO_S                          # S-mode: illegal instruction
    csrr a0, tselect
    GOTO_M
    LOADTR s0, mtrap, TR_COUNT
    LOADTR s1, mtrap, TR_CAUSE
    LOADTR s2, mtrap, TR_TVAL
    CHECK "s-traps", s0, 1
    CHECK "s-cause", s1, 2
    CHECK "s-tval", s2, 0x7a002573  # csrr a0, tselect

    GOTO_VS                         # VS-mode: illegal instruction too, not virtual (22)
    csrr a0, tinfo
    GOTO_M
    LOADTR s0, mtrap, TR_COUNT
    LOADTR s1, mtrap, TR_CAUSE
    LOADTR s2, mtrap, TR_TVAL
    CHECK "vs-traps", s0, 2
    CHECK "vs-cause", s1, 2
    CHECK "vs-tval", s2, 0x7a402573 # csrr a0, tinfo

    lw ra, 12(sp)
    addi sp, sp, 16
    ret
