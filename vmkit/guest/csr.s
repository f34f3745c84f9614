# csr: turn supervisor interrupts off and on ITERATIONS times, the lecture's cli/sti (Adams &
# Agesen measured the related "cr8wr"). RISC-V: clear and set sstatus.SIE. Under `hw` the
# guest's sstatus is the hardware's vsstatus, so neither instruction exits.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "micro.inc"

        .text
bench:
        li      t0, ITERATIONS
1:      priv_csrci sstatus, SSTATUS_SIE    # cli
        priv_csrsi sstatus, SSTATUS_SIE    # sti
        addi    t0, t0, -1
        bnez    t0, 1b
        priv_csrci sstatus, SSTATUS_SIE    # leave interrupts off, as the kernel booted
        ret

        .balign 4
trap_vector:                               # no interrupt is enabled (sie = 0): none expected
        j       panic_trap

        .data
bench_name:     .asciz  "csr"

        .include "console.inc"
