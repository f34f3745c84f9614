# trapinsn: execute an illegal instruction ITERATIONS times; the kernel's handler skips it.
# This stands in for Adams & Agesen's "divzero" (a guest exception the guest kernel handles):
# RISC-V division by zero does not trap (divu by 0 returns all ones, div returns -1), so the
# trapping instruction here is the all-zero word, illegal in every mode on every RISC-V.
# Under `hw` the illegal-instruction exception is delegated to the guest (hedeleg): no exit.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "micro.inc"

        .text
bench:
        li      t0, ITERATIONS
1:      .word   0x00000000                 # illegal instruction: traps to trap_vector
        addi    t0, t0, -1
        bnez    t0, 1b
        ret

# Skip the illegal instruction. Keeps every register but t1 (parked in sscratch).
        .balign 4
trap_vector:
        priv_csrw sscratch, t1
        priv_csrr t1, scause
        addi    t1, t1, -SCAUSE_ILLEGAL
        bnez    t1, panic_trap
        priv_csrr t1, sepc
        addi    t1, t1, 4                  # the next instruction
        priv_csrw sepc, t1
        priv_csrr t1, sscratch
        priv_sret

        .data
bench_name:     .asciz  "trapinsn"

        .include "console.inc"
