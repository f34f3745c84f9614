# counters: access rules for cycle/time/instret (values are never printed: not deterministic).
# mcounteren gates S (and U), scounteren gates U, hcounteren gates VS/VU (virtual-instruction
# exception 22 when mcounteren allows but hcounteren does not).
.include "vmkit_test.inc"
# Read cycle, time, instret in the current mode.
.macro READ3
    csrr t1, cycle
    csrr t1, time
    csrr t1, instret
.endm
.macro TRAPCOUNT name, n
    LOADTR s0, mtrap, TR_COUNT
    CHECK "\name", s0, \n
.endm
main:
    SET_TVEC mtvec, mtrap_record
    READ3                           # M: always allowed
    csrr t1, mcycle
    csrr t1, minstret
    TRAPCOUNT "m-reads-traps", 0
    csrw mcounteren, zero
    csrw scounteren, zero
    csrw hcounteren, zero
    GOTO_S
    READ3                           # three illegal-instruction traps
    ecall
    TRAPCOUNT "s-mcounteren0", 3
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "s-cause", s0, 2
    li t1, 7                        # CY, TM, IR
    csrw mcounteren, t1
    GOTO_S
    READ3
    ecall
    TRAPCOUNT "s-mcounteren7", 3
    GOTO_U
    READ3                           # scounteren = 0: illegal
    ecall
    TRAPCOUNT "u-scounteren0", 6
    li t1, 5                        # CY and IR only
    csrw scounteren, t1
    GOTO_U
    READ3                           # time traps
    ecall
    TRAPCOUNT "u-scounteren5", 7
    LOADTR s0, mtrap, TR_TVAL       # csrrs t1, time, x0 = 0xc0102373
    CHECK "u-time-tval", s0, 0xc0102373
    GOTO_VS                         # hgatp/vsatp bare: VS runs on physical addresses
    READ3                           # mcounteren allows, hcounteren = 0: virtual instruction
    ecall
    TRAPCOUNT "vs-hcounteren0", 10
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "vs-cause", s0, 22
    li t1, 7
    csrw hcounteren, t1
    GOTO_VS
    READ3
    ecall
    TRAPCOUNT "vs-hcounteren7", 10
    TEST_END
