# Multi-instruction pseudo-instructions (li, la, lla, call, tail, lw/sw symbol),
# and %hi / %lo / %pcrel_hi / %pcrel_lo written by hand.
    .equ    BIG, 0x12345678
    .equ    PAGE_ALIGNED, 0x80000000
    .text
    .global main
main:
    li      a0, 0
    li      a0, 1
    li      a0, -1
    li      a0, 2047
    li      a0, -2048
    li      a0, 2048
    li      a0, -2049
    li      a0, 0x800
    li      a0, 0x7ff
    li      a0, 0xfff
    li      a0, 0x1000
    li      a0, 0x12345000
    li      a0, 0x12345678
    li      a0, 0x7fffffff
    li      a0, 0x80000000
    li      a0, 0xffffffff
    li      a0, -0x80000000
    li      a0, 0x7ffff800
    li      a0, 0xfffff800
    li      t0, BIG
    li      t1, PAGE_ALIGNED
    li      t2, BIG & 0xfff
    li      s0, (1 << 20) + 5
    li      x31, 'A'
    la      a0, message
    la      a1, counter
    lla     a2, message
    lla     t0, main
    la      sp, stack_top
    la      a0, 0x1000                # la/lla of a constant: expanded like li
    lla     a1, BIG
    la      a2, BIG + 4
    call    helper
    call    far_away
    tail    helper
    tail    far_away
    call    a0, far_away              # auipc t1 (not a0), then jalr a0
    call    ra, far_away@plt
    jump    far_away, t2
    jump    helper, a1
    lw      a0, counter
    lh      a1, counter
    lhu     a2, counter
    lb      a3, message
    lbu     a4, message
    sw      a0, counter, t0
    sh      a1, counter, t1
    sb      a2, counter, t2
    lui     a0, %hi(counter)
    addi    a0, a0, %lo(counter)
    lw      a1, %lo(counter)(a0)
    sw      a1, %lo(counter)(a0)
    lui     a5, %hi(message+3)
    lbu     a5, %lo(message+3)(a5)
1:  auipc   a0, %pcrel_hi(counter)
    addi    a0, a0, %pcrel_lo(1b)
.Lpc:
    auipc   t0, %pcrel_hi(message)
    lw      t1, %pcrel_lo(.Lpc)(t0)
    sw      t1, %pcrel_lo(.Lpc)(t0)
    lui     a0, %hi(BIG)
    addi    a0, a0, %lo(BIG)
helper:
    ret
    .space  3000
far_away:
    j       helper
    .section .rodata
message:
    .asciz  "hello, world\n"
    .data
    .align  2
counter:
    .word   0
    .bss
    .align  4
stack:
    .space  256
stack_top:
