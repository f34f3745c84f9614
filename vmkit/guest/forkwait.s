# forkwait: a user program forks a child that exits at once and waits for it, ITERATIONS times
# (Adams & Agesen's "forkwait"). Each round builds an address space (two tables, the user
# program's PTEs, a copy of the stack page), switches to it and back, and frees it: many PTE
# writes and two satp writes, the page-table work a shell does for every command.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "mmu.inc"
        .include "micro.inc"
        .include "pgkernel.inc"

        .data
bench_name:     .asciz  "forkwait"

# ---- the user program -------------------------------------------------------------------------
        .text
        .balign 4096
user_begin:
user_main:
        sw      zero, -4(sp)               # a stack page for fork to copy
        li      s0, ITERATIONS
1:      li      a7, SYS_CLONE
        ecall
        bltz    a0, 3f
        bnez    a0, 2f
        li      a0, 0                      # the child: exit(0) at once
        li      a7, SYS_EXIT
        ecall
2:      mv      s1, a0
        li      a0, -1                     # the parent: wait for it
        li      a1, 0
        li      a7, SYS_WAIT4
        ecall
        bne     a0, s1, 3f
        addi    s0, s0, -1
        bnez    s0, 1b
        li      a0, 0
        li      a7, SYS_EXIT
        ecall
3:      unimp                              # a call failed: the kernel reports the kill
        .balign 4096
user_end:

        .include "console.inc"
        pgkernel_end
