# io: read the UART's line status register ITERATIONS times (Adams & Agesen's "in": x86
# `in al, dx` from an I/O port). Natively one load; under `hw` the UART is emulated by the VMM,
# so every read is a guest-page fault and a VM exit, handled in Python.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "micro.inc"

        .text
bench:
        li      t0, UART_BASE
        li      t1, ITERATIONS
1:      lbu     t2, UART_LSR(t0)           # the one MMIO read per iteration
        addi    t1, t1, -1
        bnez    t1, 1b
        ret

        .balign 4
trap_vector:                               # this benchmark expects no trap
        j       panic_trap

        .data
bench_name:     .asciz  "io"

        .include "console.inc"
