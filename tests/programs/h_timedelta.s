# h_timedelta: in VS and VU mode the time CSR reads mtime + htimedelta (privileged spec 8.2.8,
# "Hypervisor Time Delta Registers"); in M, HS and U it reads mtime alone. The low word of
# time runs (QEMU: 10 MHz of wall clock; vmkit: instructions), so only the high word (timeh)
# is checked: 0x12345 is added to it under V = 1 and nothing under V = 0.
.include "vmkit_test.inc"
.option arch, +h
main:
    SET_TVEC mtvec, mtrap_record
    li t1, 7                        # CY, TM, IR readable below M and in VS/VU
    csrw mcounteren, t1
    csrw hcounteren, t1
    csrw scounteren, t1
    csrw htimedelta, zero
    li t1, 0x12345
    csrw htimedeltah, t1
    csrr s1, timeh                  # M: mtime's high word (0 this early after reset)
    GOTO_VS
    csrr s0, timeh
    ecall
    sub s0, s0, s1
    CHECK "vs-timeh", s0, 0x12345
    GOTO_VU
    csrr s0, timeh
    ecall
    sub s0, s0, s1
    CHECK "vu-timeh", s0, 0x12345
    GOTO_S
    csrr s0, timeh                  # HS: no delta
    ecall
    sub s0, s0, s1
    CHECK "hs-timeh", s0, 0
    GOTO_U
    csrr s0, timeh                  # U: no delta
    ecall
    sub s0, s0, s1
    CHECK "u-timeh", s0, 0
    csrw htimedeltah, zero
    TEST_END
