# A program for tests/test_disasm.py: vmkit's `disassemble` must print exactly the listing
# `objdump -d` prints for it. It exercises what the listing logic (not the per-instruction
# table) has to get right: labels, several symbols at one address, la/call pairs (auipc +
# addi/jalr: objdump's "# address <symbol>" comments), gp- and tp-relative accesses, data
# words inside code ($d mapping symbol -> ".word"), and a second code section.
    .option norvc
    .option arch, +h
    .section .init, "ax"
    .globl _start
    .type _start, @function
_start:
reset:                                  # a local label at the same address as _start
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      sp, stack_top
    csrr    a0, mhartid
    csrw    mtvec, zero
    csrrwi  a1, mscratch, 5
    hlv.w   a2, (a0)
    call    main
    tail    finish

    .text
    .globl main
    .type main, @function
main:
    lui     a5, %hi(counter)
    lw      a4, %lo(counter)(a5)
    addi    a4, a4, 1
    sw      a4, %lo(counter)(a5)
    lw      a3, 0(tp)
    lw      a3, -4(zero)
    beqz    a4, 1f
    bnez    a4, main
1:  fence   rw, rw
    ret
table:
    .word   0x12345678, 0x00000013     # data in .text: objdump shows .word, even for a nop
after_table:
    sfence.vma
finish:
    la      t0, tohost
    li      t1, 1
    sw      t1, 0(t0)
2:  wfi
    j       2b
    .size main, . - main

    .data
counter: .word 0
    .section .tohost, "aw"
    .globl tohost, fromhost
tohost:   .word 0
fromhost: .word 0
    .bss
    .space 256
stack_top:
