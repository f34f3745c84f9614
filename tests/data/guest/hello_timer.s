        .equ UART, 0x10000000
        .equ SBI_TIME, 0x54494D45
        .equ SBI_SRST, 0x53525354
        .equ SBI_DBCN, 0x4442434E
        .text
        .globl _start
_start:
        la      t0, trap
        csrw    stvec, t0
        # print through the UART
        la      a0, hello
        call    puts
        # print through SBI DBCN
        li      a7, SBI_DBCN
        li      a6, 0
        li      a0, 5
        la      a1, sbi_text
        li      a2, 0
        ecall
        # arm the timer 1000 ticks from now; enable STIE and SIE; wait
        rdtime  a0
        addi    a0, a0, 1000
        li      a1, 0
        li      a7, SBI_TIME
        li      a6, 0
        ecall
        li      t0, 1 << 5
        csrs    sie, t0
        csrsi   sstatus, 2
1:      wfi
        beqz    s1, 1b
        la      a0, done
        call    puts
        li      a7, SBI_SRST
        li      a6, 0
        li      a0, 0
        li      a1, 0
        ecall
        j       .
trap:
        csrr    t0, scause
        li      s1, 1
        # disarm: set timer far away
        li      a0, -1
        li      a1, -1
        li      a7, SBI_TIME
        li      a6, 0
        ecall
        sret
puts:   li      t1, UART
2:      lbu     t0, 0(a0)
        beqz    t0, 3f
        sb      t0, 0(t1)
        addi    a0, a0, 1
        j       2b
3:      ret
        .data
hello:  .asciz "hello from the guest\n"
sbi_text: .ascii "sbi!\n"
done:   .asciz "timer fired\n"
