# pmp: physical memory protection. Entry 0 = NAPOT 4 KiB read-only over `guarded`, entry 1 =
# NAPOT 2 MiB RWX over the start of RAM (the program). Lowest-numbered match wins. S stores to
# the read-only page and S accesses matching no entry (the UART) raise access faults (7 / 5,
# mtval = address); unlocked entries do not restrict M; a locked entry (L) applies to M too and
# ignores writes to its pmpcfg byte and pmpaddr.
.include "vmkit_test.inc"
main:
    SET_TVEC mtvec, mtrap_record
    li t1, 0x20000000 | 0x3ffff     # 0x80000000 >> 2 | (2 MiB / 8 - 1): NAPOT 2 MiB
    csrw pmpaddr1, t1
    la t1, guarded
    srli t1, t1, 2
    ori t1, t1, 0x1ff               # 4 KiB NAPOT: low 9 bits set
    csrw pmpaddr0, t1
    li t1, 0x1f19                   # cfg0 = NAPOT | R, cfg1 = NAPOT | RWX
    csrw pmpcfg0, t1
    csrr s0, pmpcfg0
    CHECK "pmpcfg0", s0, 0x1f19
    la s1, guarded
    li t1, 0x11
    sw t1, 0(s1)                    # M: not restricted by unlocked entries
    GOTO_S
    lw s2, 0(s1)                    # readable
    sw zero, 0(s1)                  # store access fault
    ecall
    CHECK "s-read", s2, 0x11
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "s-store-cause", s0, 7
    LOADTR s0, mtrap, TR_TVAL
    sub s0, s0, s1
    CHECK "s-store-tval-offset", s0, 0
    GOTO_S
    li s3, UART0
    lbu s2, 5(s3)                   # no entry matches: load access fault
    ecall
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "s-nomatch-cause", s0, 5
    LOADTR s0, mtrap, TR_TVAL
    CHECK "s-nomatch-tval", s0, UART0 + 5
    li t1, 0x80                     # lock entry 0
    csrs pmpcfg0, t1
    csrr s0, pmpcfg0
    CHECK "pmpcfg0-locked", s0, 0x1f99
    li t1, 0x22
    sw t1, 0(s1)                    # now M is denied too
    LOADTR s0, mtrap, TR_CAUSE
    CHECK "m-locked-store-cause", s0, 7
    lw s0, 0(s1)
    CHECK "m-locked-read", s0, 0x11
    csrr s2, pmpaddr0
    csrw pmpaddr0, zero             # ignored: locked
    csrr s0, pmpaddr0
    sub s0, s0, s2
    CHECK "pmpaddr0-locked", s0, 0
    li t1, 0x1f1f                   # byte 0 ignored (locked), byte 1 written
    csrw pmpcfg0, t1
    csrr s0, pmpcfg0
    CHECK "pmpcfg0-write-locked", s0, 0x1f99
    li t1, -1
    csrw pmpaddr2, t1               # all 32 bits (address bits 33:2) implemented
    csrr s0, pmpaddr2
    CHECK "pmpaddr2-ones", s0, 0xffffffff
    LOADTR s0, mtrap, TR_COUNT
    CHECK "traps", s0, 3
    TEST_END

    .bss
    .align 12
guarded: .space 4096
