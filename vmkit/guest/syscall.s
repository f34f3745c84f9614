# syscall: a user program makes ITERATIONS system calls that do nothing (Adams & Agesen's
# "syscall"; x86: int 0x80 / syscall). The cost is one trap into the kernel and one sret back.
# Under `hw` the ecall from VU-mode is delegated to the guest kernel (hedeleg): no VM exit.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "micro.inc"

        .equ    SYS_NULL, 0                # this kernel's only call besides exit: return at once
        .equ    SYS_EXIT, 93               # Linux's exit: the benchmark is over

        .text
# bench: drop to U-mode at user_loop; its SYS_EXIT call ends in bench_done (micro.inc).
bench:
        li      t0, SSTATUS_SPP
        priv_csrc sstatus, t0              # sret returns to U-mode ...
        la      t0, user_loop
        priv_csrw sepc, t0                 # ... at user_loop
        priv_sret

# U-mode.
user_loop:
        li      s0, ITERATIONS
        li      a7, SYS_NULL
1:      ecall
        addi    s0, s0, -1
        bnez    s0, 1b
        li      a7, SYS_EXIT
        ecall

# The kernel's system call entry. Keeps every user register but t1 (parked in sscratch).
        .balign 4
trap_vector:
        priv_csrw sscratch, t1
        priv_csrr t1, scause
        addi    t1, t1, -SCAUSE_ECALL_U
        bnez    t1, panic_trap
        li      t1, SYS_EXIT
        beq     a7, t1, 1f
        priv_csrr t1, sepc
        addi    t1, t1, 4                  # return past the ecall, not onto it again
        priv_csrw sepc, t1
        priv_csrr t1, sscratch
        priv_sret
1:      la      sp, kernel_stack_top       # exit: back to the kernel for good
        j       bench_done

        .data
bench_name:     .asciz  "syscall"

        .include "console.inc"
