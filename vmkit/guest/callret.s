# callret: call an empty function ITERATIONS times (Adams & Agesen's "call/ret"). Nothing
# sensitive: every engine that runs guest code directly runs this at native speed.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "micro.inc"

        .text
bench:
        addi    sp, sp, -16
        sw      ra, 12(sp)
        sw      s0, 8(sp)
        li      s0, ITERATIONS
1:      call    empty
        addi    s0, s0, -1
        bnez    s0, 1b
        lw      s0, 8(sp)
        lw      ra, 12(sp)
        addi    sp, sp, 16
        ret

empty:
        ret

        .balign 4
trap_vector:                               # this benchmark expects no trap
        j       panic_trap

        .data
bench_name:     .asciz  "callret"

        .include "console.inc"
