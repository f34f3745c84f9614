# ptemod: a user program changes the protection of one page ITERATIONS times, read-only and
# back (Adams & Agesen's "ptemod"). Each mprotect is one PTE write in the kernel and the
# sfence.vma for that page and ASID the spec asks for. Natively a store and a fence; with
# shadow page tables the PTE write traps (the guest's tables are write-protected); under PV
# it is an MMU_UPDATE hypercall.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "mmu.inc"
        .include "micro.inc"
        .include "pgkernel.inc"

        .data
bench_name:     .asciz  "ptemod"

# ---- the user program -------------------------------------------------------------------------
        .text
        .balign 4096
user_begin:
user_main:
        li      a0, 0
        li      a7, SYS_BRK
        ecall
        mv      s1, a0                     # s1 = the page
        li      t0, PAGE_SIZE
        add     a0, s1, t0
        li      a7, SYS_BRK
        ecall
        sw      zero, 0(s1)                # mapped now (demand-zero)
        li      s0, ITERATIONS
1:      andi    a2, s0, 1                  # prot: read-only, read-write, read-only, ...
        slli    a2, a2, 1                  # (PROT_WRITE when s0 is odd)
        ori     a2, a2, PROT_READ
        mv      a0, s1
        li      a1, PAGE_SIZE
        li      a7, SYS_MPROTECT
        ecall
        bnez    a0, 2f
        addi    s0, s0, -1
        bnez    s0, 1b
        li      a0, 0
        li      a7, SYS_EXIT
        ecall
2:      unimp                              # mprotect failed: the kernel reports the kill
        .balign 4096
user_end:

        .include "console.inc"
        pgkernel_end
