# pgkernel_test.s - the paging kernel (vmkit/guest/pgkernel.inc) checked from user mode.
#
# Its user program prints one line per check, each saying what it saw, so that the test
# compares the whole console (and QEMU must print the same):
#   1. demand-zero: two fresh heap pages read zero
#   2. fork copies memory: the child sees the parent's value; its write does not leak back;
#      wait4 returns the child's pid and exit status (7 << 8)
#   3. a load from page 0 (never mapped) and a store to the user program's own read-only
#      pages kill only that child (the kernel prints why); wait4 gets status 11
#   4. exit frees: ITERATIONS children, each touching HEAP_PAGES heap pages of its own copy;
#      freed frames or not, the kernel would run out after a few hundred without freeing
#   5. brk and mprotect refuse bad arguments; write refuses a buffer the task does not own
# Then it exits; the kernel (micro.inc) prints "pgkernel: N iterations done".

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "mmu.inc"
        .include "micro.inc"
        .include "pgkernel.inc"

        .equ    HEAP_PAGES, 8

        .data
bench_name:     .asciz  "pgkernel"

        .text
        .balign 4096
user_begin:
user_main:
        addi    sp, sp, -16
        li      a0, 0                      # 1. demand-zero
        li      a7, SYS_BRK
        ecall
        mv      s1, a0                     # s1 = the heap
        li      t0, HEAP_PAGES * PAGE_SIZE
        add     a0, s1, t0
        li      a7, SYS_BRK
        ecall
        lw      t0, 0(s1)
        li      t1, 2 * PAGE_SIZE - 4
        add     t1, s1, t1
        lw      t1, 0(t1)
        or      t0, t0, t1
        la      a0, zero_ok
        beqz    t0, 1f
        la      a0, zero_bad
1:      call    print

        li      t0, 1234                   # 2. fork copies memory
        sw      t0, 0(s1)
        li      a7, SYS_CLONE
        ecall
        bnez    a0, 2f
        lw      t0, 0(s1)                  # the child
        li      t1, 1234
        la      a0, child_ok
        beq     t0, t1, 1f
        la      a0, child_bad
1:      call    print
        li      t0, 99
        sw      t0, 0(s1)
        li      a0, 7
        li      a7, SYS_EXIT
        ecall
2:      mv      s2, a0                     # the parent: s2 = the child's pid
        li      a0, -1
        mv      a1, sp                     # wstatus on the stack
        li      a7, SYS_WAIT4
        ecall
        mv      t2, a0
        la      a0, wait_bad
        bne     t2, s2, 1f
        lw      t0, 0(sp)
        li      t1, 7 << 8
        bne     t0, t1, 1f
        lw      t0, 0(s1)
        li      t1, 1234
        bne     t0, t1, 1f
        la      a0, parent_ok
1:      call    print

        la      s3, null_load              # 3. bad accesses kill only the child
        call    killed_child
        la      s3, text_store
        call    killed_child

        li      s4, ITERATIONS             # 4. exit frees
3:      li      a7, SYS_CLONE
        ecall
        bltz    a0, 5f
        bnez    a0, 4f
        mv      t0, s1                     # the child: dirty every heap page, then exit
        li      t1, HEAP_PAGES
6:      sw      t1, 0(t0)
        li      t2, PAGE_SIZE
        add     t0, t0, t2
        addi    t1, t1, -1
        bnez    t1, 6b
        li      a0, 0
        li      a7, SYS_EXIT
        ecall
4:      li      a0, -1
        li      a1, 0
        li      a7, SYS_WAIT4
        ecall
        addi    s4, s4, -1
        bnez    s4, 3b
        la      a0, forks_ok
        j       1f
5:      la      a0, forks_bad
1:      call    print

        li      a0, HEAP_TOP + PAGE_SIZE   # 5. bad arguments
        li      a7, SYS_BRK
        ecall
        li      t0, HEAP_PAGES * PAGE_SIZE
        add     t0, s1, t0
        bne     a0, t0, 7f                 # brk past HEAP_TOP: unchanged
        li      a0, USER_TEXT              # mprotect of the program's pages
        li      a1, PAGE_SIZE
        li      a2, PROT_READ | PROT_WRITE
        li      a7, SYS_MPROTECT
        ecall
        li      t0, -ENOMEM
        bne     a0, t0, 7f
        addi    a0, s1, 1                  # not aligned
        li      a1, PAGE_SIZE
        li      a2, PROT_READ
        li      a7, SYS_MPROTECT
        ecall
        li      t0, -EINVAL
        bne     a0, t0, 7f
        li      a0, 1                      # write of kernel memory
        la      a1, _start                 # (its physical address: not mapped for the task)
        li      a2, 4
        li      a7, SYS_WRITE
        ecall
        li      t0, -EFAULT
        bne     a0, t0, 7f
        li      a0, 1                      # write from past the heap's end
        li      t0, HEAP_PAGES * PAGE_SIZE
        add     a1, s1, t0
        li      a2, 4
        li      a7, SYS_WRITE
        ecall
        li      t0, -EFAULT
        bne     a0, t0, 7f
        la      a0, args_ok
        j       1f
7:      la      a0, args_bad
1:      call    print
        li      a0, 0
        li      a7, SYS_EXIT
        ecall

# killed_child(s3 = code the child jumps to): fork; the child runs it and must be killed;
# the parent prints what wait4 saw.
killed_child:
        mv      s5, ra
        li      a7, SYS_CLONE
        ecall
        bnez    a0, 1f
        jr      s3
1:      li      a0, -1
        mv      a1, sp
        li      a7, SYS_WAIT4
        ecall
        lw      t0, 0(sp)
        li      t1, KILLED_STATUS
        la      a0, killed_ok
        beq     t0, t1, 2f
        la      a0, killed_bad
2:      mv      ra, s5
        j       print
null_load:
        lw      t0, 0(zero)
        j       .
text_store:
        li      t0, USER_TEXT
        sw      zero, 0(t0)
        j       .

# print(a0 = string): write(1, a0, strlen(a0))
print:
        mv      a1, a0
1:      lbu     t0, 0(a0)
        addi    a0, a0, 1
        bnez    t0, 1b
        sub     a2, a0, a1
        addi    a2, a2, -1
        li      a0, 1
        li      a7, SYS_WRITE
        ecall
        ret

zero_ok:        .asciz  "demand-zero: fresh pages read zero\n"
zero_bad:       .asciz  "demand-zero: FAILED\n"
child_ok:       .asciz  "fork: the child sees the parent's 1234\n"
child_bad:      .asciz  "fork: the child sees something else: FAILED\n"
parent_ok:      .asciz  "fork: the child's write stayed in the child; wait4: its pid, status 7\n"
wait_bad:       .asciz  "fork/wait4: FAILED\n"
killed_ok:      .asciz  "a bad access killed only the child; wait4: status 11\n"
killed_bad:     .asciz  "a bad access: FAILED\n"
forks_ok:       .asciz  "forks: every child's memory came back\n"
forks_bad:      .asciz  "forks: out of memory: FAILED\n"
args_ok:        .asciz  "brk, mprotect, write: bad arguments refused\n"
args_bad:       .asciz  "bad arguments: FAILED\n"
        .balign 4096
user_end:

        .include "console.inc"
        pgkernel_end
