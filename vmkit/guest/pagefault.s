# pagefault: a user program touches ITERATIONS fresh heap pages; each first touch is a page
# fault that the kernel serves with a zeroed frame (Adams & Agesen's "pgfault"; x86: #PF).
# Natively one trap and a 4 KiB clear; with shadow page tables also the VMM's own fault and
# the shadow update, with nested paging a longer walk.
# The heap grows by at most ROUND pages at a time (brk maps nothing: pages come on first
# touch) and is given back after each round, so any ITERATIONS fits in the guest's RAM.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "mmu.inc"
        .include "micro.inc"
        .include "pgkernel.inc"

        .equ    ROUND, 64

        .data
bench_name:     .asciz  "pagefault"

# ---- the user program -------------------------------------------------------------------------
        .text
        .balign 4096
user_begin:
user_main:
        li      s0, ITERATIONS             # pages left to touch
        li      a0, 0
        li      a7, SYS_BRK
        ecall                              # brk(0): a0 = the heap's start
        mv      s1, a0
1:      li      s2, ROUND                  # this round: min(left, ROUND) pages
        bleu    s2, s0, 2f
        mv      s2, s0
2:      slli    a0, s2, 12
        add     a0, s1, a0
        li      a7, SYS_BRK
        ecall                              # grow
        mv      t0, s1
        mv      t1, s2
3:      sw      t1, 0(t0)                  # the first touch: a demand-zero page fault
        li      t2, PAGE_SIZE
        add     t0, t0, t2
        addi    t1, t1, -1
        bnez    t1, 3b
        mv      a0, s1
        li      a7, SYS_BRK
        ecall                              # shrink: the frames go back
        sub     s0, s0, s2
        bnez    s0, 1b
        li      a0, 0
        li      a7, SYS_EXIT
        ecall
        .balign 4096
user_end:

        .include "console.inc"
        pgkernel_end
