# RV32I base instructions, every register spelling, immediates at their limits,
# branch aliases and numeric local labels. Compared byte for byte with GNU as.
    .text
    .globl _start
_start:
    lui     a0, 0x12345
    lui     x31, 0
    lui     t6, 0xfffff
    auipc   ra, 1
    auipc   x5, 0xabcde
    addi    x0, x0, 0
    addi    x1, x2, -2048
    addi    x3, x4, 2047
    addi    sp, sp, -16
    addi    fp, s0, 16
    slti    a0, a1, -1
    sltiu   a2, a3, 0x7ff
    xori    a4, a5, 0x55
    ori     a6, a7, -0x800
    andi    s2, s3, 0xff
    slli    s4, s5, 0
    slli    s6, s7, 31
    srli    s8, s9, 1
    srai    s10, s11, 17
    add     t0, t1, t2
    sub     t3, t4, t5
    sll     x6, x7, x8
    slt     x9, x10, x11
    sltu    x12, x13, x14
    xor     x15, x16, x17
    srl     x18, x19, x20
    sra     x21, x22, x23
    or      x24, x25, x26
    and     x27, x28, x29
    sll     a0, a1, 3              # GNU accepts an immediate shift spelled without "i"
    srl     a0, a1, 4
    sra     a0, a1, 5
    add     a0, a1, 12             # ... and add/xor/or/and with an immediate
    xor     a0, a1, -1
    or      a0, a1, 0x10
    and     a0, a1, 7
    lb      a0, 0(a1)
    lh      a0, -2(sp)
    lw      a0, 2047(gp)
    lbu     a0, -2048(tp)
    lhu     a0, 0x10(s0)
    lw      a1, (a2)
    sb      a0, 1(a1)
    sh      a0, -4(a1)
    sw      ra, 12(sp)
    sw      zero, (sp)
    sw      a0, 4*3+1(a1)
1:  beq     a0, a1, 1b
    bne     a0, a1, 1f
    blt     t0, t1, 1b
1:  bge     t0, t1, 1b
    bltu    s0, s1, 2f
    bgeu    s0, s1, 2f
2:  beqz    a0, 2b
    bnez    a0, 2b
    blez    a1, 3f
    bgez    a1, 3f
    bltz    a2, 3f
    bgtz    a2, 3f
3:  bgt     a0, a1, 3b
    ble     a0, a1, 3b
    bgtu    a0, a1, 3b
    bleu    a0, a1, 3b
    beq     x0, x31, far_label
    jal     ra, 3b
    jal     3b
    jal     x0, 1f
    j       1f
    j       far_label
1:  jalr    ra, 0(t0)
    jalr    x0, -4(a0)
    jalr    t0
    jalr    8(t1)
    jalr    a0, a1
    jr      ra
    jr      12(t2)
    jr      t0, 8
    jalr    ra, t0, 4
    jalr    a0, a1, -8
    ret
    nop
    mv      a0, a1
    not     a2, a3
    neg     a4, a5
    seqz    a6, a7
    snez    s2, s3
    sltz    s4, s5
    sgtz    s6, s7
    zext.b  t3, t4
    li      a0, 0
    li      a0, -2048
    li      a0, 2047
    ecall
    ebreak
    .space  1024
far_label:
    .rept   4
    addi    a0, a0, 1
    .endr
    beq     a0, a1, _start
    j       _start
