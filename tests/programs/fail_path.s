# expect-exit: 2
# fail_path: exercises the failure path of the harness itself. Two checks are wrong on
# purpose, so the program prints "expected ..." on those lines, then "FAIL 2", and exits with
# status 2 through the sifive_test finisher ((2 << 16) | 0x3333).
.include "vmkit_test.inc"
main:
    li s0, 2
    li s1, 3
    add s2, s0, s1
    CHECK "right", s2, 5
    CHECK "wrong-on-purpose", s2, 6
    sub s2, s0, s1
    CHECK "also-wrong-on-purpose", s2, 1
    TEST_END
