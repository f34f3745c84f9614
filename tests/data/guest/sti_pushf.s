# Popek-Goldberg lab: turn interrupts on, read sstatus back; off, read back.
# Correct result: s0 = 2 (SIE was on), s1 = 0. Under `trap` with the pushf or popf quirk
# the deprivileged kernel gets a wrong answer, as an x86 guest kernel did under a plain
# trap-and-emulate VMM.
        .equ SBI_SRST, 0x53525354
        .equ SBI_DBCN, 0x4442434E
        .text
        .globl _start
_start:
        csrsi   sstatus, 2          # sti: interrupts on
        csrr    a0, sstatus         # pushf: read it back
        andi    s0, a0, 2           # 2 = on
        csrci   sstatus, 2          # cli
        csrr    a0, sstatus
        andi    s1, a0, 2           # 0 = off
        li      a7, SBI_SRST
        li      a6, 0
        li      a0, 0
        li      a1, 0
        ecall
