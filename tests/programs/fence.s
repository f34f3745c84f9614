# fence: fence / fence.i / fence rw,rw execute as no-ops; fence.i makes a store to code
# visible to instruction fetch (self-modifying code: patch an `li` immediate, run it).
.include "vmkit_test.inc"
main:
    fence
    fence rw, rw
    fence.i
    li s0, 1
    CHECK "fences", s0, 1
    la s1, patch
    lw s2, 0(s1)                    # addi a0, zero, 1 = 0x00100513
    CHECK "original-insn", s2, 0x00100513
    call patch
    mv s0, a0
    CHECK "before-patch", s0, 1
    li t1, 0x02a00513               # addi a0, zero, 42
    sw t1, 0(s1)
    fence.i
    call patch
    mv s0, a0
    CHECK "after-fence.i", s0, 42
    TEST_END

    .section .text.patch
    .align 2
patch:
    addi a0, zero, 1
    ret
