# ctxswitch: two tasks, a parent and the child it forks, hand the CPU to each other ITERATIONS
# times each with sched_yield: every switch is a satp write to the other address space
# (x86: mov cr3), tagged with its own ASID, so the TLB need not be flushed. Under shadow
# paging every satp write exits to the VMM (the lecture's HANDLE_CR3).

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "mmu.inc"
        .include "micro.inc"
        .include "pgkernel.inc"

        .data
bench_name:     .asciz  "ctxswitch"

# ---- the user program -------------------------------------------------------------------------
        .text
        .balign 4096
user_begin:
user_main:
        sw      zero, -4(sp)               # a stack page each, so there is memory to switch
        li      a7, SYS_CLONE
        ecall
        bltz    a0, 3f
        mv      s1, a0                     # s1 = the child's pid, or 0 in the child
        li      s0, ITERATIONS
1:      li      a7, SYS_SCHED_YIELD        # to the other task
        ecall
        addi    s0, s0, -1
        bnez    s0, 1b
        beqz    s1, 2f
        li      a0, -1                     # the parent waits for the child
        li      a1, 0
        li      a7, SYS_WAIT4
        ecall
        bne     a0, s1, 3f
2:      li      a0, 0
        li      a7, SYS_EXIT
        ecall
3:      unimp                              # a call failed: the kernel reports the kill
        .balign 4096
user_end:

        .include "console.inc"
        pgkernel_end
