# Every alias and macro form GNU as 2.40 accepts for rv32ima_zicsr_zifencei + h, one or
# more lines each, in the order of binutils 2.40 opcodes/riscv-opc.c (the INSN_ALIAS and
# INSN_MACRO rows of classes I, M, A, Zicsr, Zifencei, H). Compared byte for byte with
# GNU as; tests/test_asm_gnu.py checks that no form of that list is missing here.
# Left out, with the reason: la.tls.gd, la.tls.ie and "add rd,rs1,rs2,%tprel_add(sym)"
# (thread-local storage needs a linker-built GOT and TLS segment; vmkit has no linker).
    .option arch, +h
    .text
    .globl  start
start:
    unimp
    ebreak
    sbreak
    ret
    jr      a0
    jr      4(a0)
    jr      (t0)
    jr      a0, -8
    jalr    a1
    jalr    -4(a1)
    jalr    (a2)
    jalr    a1, 8
    jalr    t0, a1
    jalr    t0, 12(a1)
    jalr    t0, a1, 12
    j       start
    jal     start
    jal     t0, start
    call    helper
    call    helper@plt
    call    ra, helper
    call    a0, helper
    call    zero, helper
    call    t1, helper@plt
    call    t2, helper @plt
    call    start
    call    a5, start
    tail    helper
    tail    helper@plt
    tail    start
    jump    helper, t0
    jump    helper, a7
    jump    start, t2
    nop
    li      a0, 7
    li      a1, -2048
    li      a2, 0x12345678
    li      a3, 0xfffff000
    mv      a0, a1
    move    t0, t1
    move    x31, x0
    zext.b  a0, a1
    and     a0, a1, 0xf
    beqz    a0, start
    blez    a1, start
    bgez    a2, start
    ble     a3, a4, start
    bleu    a5, a6, start
    bltz    a7, start
    bgtz    s0, start
    bgt     s1, s2, start
    bgtu    s3, s4, start
    bnez    s5, start
    add     a0, a1, -7
    la      a0, value
    lla     a1, value
    la      a2, start
    neg     a0, a1
    sll     a0, a1, 3
    srl     a0, a1, 31
    sra     a0, a1, 1
    lb      a0, value
    lbu     a1, value
    lh      a2, value
    lhu     a3, value
    lw      a4, value
    lw      zero, value
    not     a0, a1
    or      a0, a1, 0x7ff
    seqz    a0, a1
    snez    a0, a1
    sltz    a0, a1
    sgtz    a0, a1
    slt     a0, a1, -3
    sltu    a0, a1, 9
    sgt     a0, a1, a2
    sgtu    a0, a1, a2
    sb      a0, value, t0
    sh      a1, value, t1
    sw      a2, value, t2
    fence
    fence.tso
    rdcycle a0
    rdinstret a1
    rdtime  a2
    rdcycleh a3
    rdinstreth a4
    rdtimeh a5
    ecall
    scall
    xor     a0, a1, -1
    sext.b  a0, a1
    sext.h  t0, t6
    zext.h  s0, s0
    # Zicsr short forms.
    csrr    a0, mstatus
    csrwi   mstatus, 8
    csrsi   sstatus, 2
    csrci   sie, 31
    csrw    mscratch, a0
    csrw    mscratch, 3
    csrs    mie, a1
    csrs    mie, 4
    csrc    mip, a2
    csrc    mip, 0
    csrrw   a0, mscratch, 5
    csrrs   a0, mscratch, 6
    csrrc   a0, mscratch, 7
    # Supervisor and hypervisor fences without their optional registers.
    sfence.vma
    sfence.vma a0
    hfence.vvma
    hfence.vvma a0
    hfence.gvma
    hfence.gvma a1
    # A, H: the address operand may be written with a zero offset.
    lr.w    a0, 0(a1)
    sc.w    a0, a1, 0(a2)
    amoswap.w.aqrl a0, a1, 0(a2)
    hlv.w   a0, 0(a1)
    hlvx.hu a0, 0(a1)
    hsv.b   a0, 0(a1)
helper:
    ret
    .data
value:
    .word   0x12345678
