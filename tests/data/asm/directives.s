# Directives: sections, data, strings, alignment, symbols and expressions,
# macros, conditional assembly, repetition and .include.
    .include "defs.inc"
    .equ    VARIANT, 2
    .set    COUNT, 3
    .equ    MASK, (1 << 4) - 1
    .equ    NEG, -(5 * 3) / 2
    .equ    MIXED, (0x10 | 0b11) ^ 07 & ~0
    .equ    SHIFTED, 0x100 >> 4 << 1
    .equ    CMP, (3 > 2) + (3 < 2) + (2 == 2) + (1 != 1) + (4 >= 4) + (4 <= 3)
    .equ    LOGIC, (1 && 0) + (1 || 0) + !0 + (17 % 5)
    .equ    CHARS, 'a' + '\n'
    VIA_EQUALS = COUNT * 2

    .section .rodata
msg:
    .ascii  "ab\tc\\\"\101\x42"
    .asciz  "zero-terminated"
    .string "also", "two"
msg_len = . - msg
    .align  2
table:
    .word   kmain, _start, msg, table_end - table, 0xdeadbeef, -1
    .half   0x1234, -2, 65535
    .short  7
    .byte   1, 2, 'z', 255, -128
    .2byte  0x55aa
    .4byte  0x01020304
table_end:

    .section .text.init, "ax", @progbits
    .globl  _start
_start:
    la      sp, stack_top
    putc    a0
    putc    a1, t1
    putc    reg=a2, base=t2
    j       kmain

    .text
kmain:
    li      a0, VARIANT
    li      a1, COUNT
    li      a2, MASK
    li      a3, NEG
    li      a4, MIXED
    li      a5, SHIFTED
    li      a6, CMP
    li      a7, LOGIC
    li      t0, CHARS
    li      t1, VIA_EQUALS
    li      t2, msg_len
    li      t4, UART_LSR
    addi    t5, t5, VARIANT * 100 - 1
.if VARIANT == 1
    li      a0, 111
.elseif VARIANT == 2
    li      a0, 222
.else
    li      a0, 333
.endif
.if VARIANT > 1
  .if COUNT == 3
    addi    a0, a0, 1
  .else
    addi    a0, a0, 2
  .endif
.endif
.ifdef UART_BASE
    addi    a0, a0, 3
.endif
.ifndef NOT_DEFINED_ANYWHERE
    addi    a0, a0, 4
.else
    addi    a0, a0, 5
.endif
.ifdef NOT_DEFINED_ANYWHERE
    addi    a0, a0, 6
.endif
.if 0
    this line is never assembled, .if 0 skips it
.endif
    .macro  push reg
    addi    sp, sp, -4
    sw      \reg, 0(sp)
    .endm
    .macro  pop reg
    lw      \reg, 0(sp)
    addi    sp, sp, 4
    .endm
    .macro  sum dst, a, b=zero
    add     \dst, \a, \b
    .endm
    .macro  counted
.Lc\@:
    j       .Lc\@
    .endm
    push    ra
    push    s0
    pop     s0
    pop     ra
    sum     a0, a1, a2
    sum     a0, a1
    counted
    counted
    .set    COUNT, COUNT + 1
    li      a0, COUNT
    .rept   3
    addi    a0, a0, 1
    .endr
    .irp    reg, s1, s2, s3
    mv      \reg, zero
    .endr
    .irpc   n, 123
    addi    a0, a0, \n
    .endr
    nop; nop                      # two statements on one line
    .byte   1
    .align  2
    .balign 8
    .p2align 3
    nop
    .align  4
    .balign 16, 0
    ret
    .p2align 2, 0, 2

    .data
    .p2align 2
counter:
    .word   0
    .zero   5
    .space  3, 0xaa
    .balign 4
words:
    .word   counter + 4, . - words
    .long   1
    .int    2
    .fill   3, 2, 0x1234

    .bss
    .align  4
stack:
    .zero   512
stack_top:

    .section .note.GNU-stack, "", @progbits
    .type   kmain, @function
    .size   kmain, 4
    .ident  "vmkit corpus"
