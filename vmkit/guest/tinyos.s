# tinyos: a teaching kernel in the style of xv6-riscv, small enough to read in one sitting.
#
# It boots in S-mode, installs a trap vector and runs two U-mode tasks, A (pid 1) and B (pid 2),
# round-robin. A task gives up the CPU when it calls sched_yield or exit, or when the timer
# interrupt preempts it. System calls use Linux's numbers (a7) and registers (a0..a2 -> a0):
#   write(fd, buf, len) = 64   getpid() = 172   sched_yield() = 124   exit(status) = 93
#
# Design (xv6 names in brackets): one kernel stack; each task has a register save area
# [trapframe] holding x1..x31 and sepc, a pid and a state [struct proc]. sscratch always
# points to the running task, so the trap vector [uservec] can save the user registers there
# before it touches any of them; to switch tasks the kernel just returns [userret] into
# another task's save area. The kernel itself runs with interrupts off (sstatus.SIE = 0): a
# timer interrupt stays pending until the next sret to U-mode, where it is taken at once.
#
# Every privileged instruction goes through priv.inc (the paravirtual build changes only that
# file). Console: UART, or the SBI debug console with `.equ CONSOLE_SBI, 1`.
# Prepend `.equ ITERATIONS, n` to set the lines task A prints (task B prints n + 2).

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"

.ifndef ITERATIONS
        .equ    ITERATIONS, 5
.endif
.if ITERATIONS < 1
        .error  "ITERATIONS must be at least 1"
.endif

        .equ    RAM_BASE, 0x80000000       # the guest's RAM: user buffers must lie inside
        .equ    RAM_SIZE, 4 << 20
        .equ    TIMER_INTERVAL, 3000       # guest time between timer interrupts
        .equ    WORK, 1000                 # busy-loop trips per printed line (2 instructions)

        .equ    SYS_WRITE, 64
        .equ    SYS_EXIT, 93
        .equ    SYS_SCHED_YIELD, 124
        .equ    SYS_GETPID, 172
        .equ    EFAULT, 14
        .equ    ENOSYS, 38

        # struct task: the save area first, so a task pointer is also its save area.
        .equ    TASK_SEPC, 0               # word 0: sepc (x0 needs no slot); word i: register xi
        .equ    TASK_PID, 32 * 4
        .equ    TASK_STATE, 33 * 4         # EXITED (0) or RUNNABLE (1)
        .equ    TASK_SIZE, 34 * 4
        .equ    NTASK, 2
        .equ    EXITED, 0
        .equ    RUNNABLE, 1
        .equ    USER_STACK, 1024

        .text
        .globl  _start
_start:
        la      sp, kernel_stack_top
        la      t0, tasks
        priv_csrw sscratch, t0             # the first task runs first
        la      t0, trap_vector            # 4-byte aligned: stvec.MODE = 0, direct
        priv_csrw stvec, t0
        la      a0, boot_message
        call    puts

        la      a0, tasks                  # task A: pid 1, ITERATIONS lines
        la      a1, task_a_stack_top
        la      a2, name_a
        li      a3, ITERATIONS
        li      a4, 1
        call    task_create
        la      a0, tasks + TASK_SIZE      # task B: pid 2, ITERATIONS + 2 lines
        la      a1, task_b_stack_top
        la      a2, name_b
        li      a3, ITERATIONS + 2
        li      a4, 2
        call    task_create

        li      t0, SIE_STIE               # take timer interrupts (in U-mode: SIE is off here)
        priv_csrs sie, t0
        call    timer_arm
        li      t0, SSTATUS_SPP            # sret goes to U-mode
        priv_csrc sstatus, t0
        la      a0, tasks
        j       user_return

# task_create(a0 = task, a1 = stack top, a2 = name, a3 = lines, a4 = pid): a task that starts
# in task_main(name, lines) on its own stack.
task_create:
        la      t0, task_main
        sw      t0, TASK_SEPC(a0)
        sw      a1, 2 * 4(a0)              # sp
        sw      a2, 10 * 4(a0)             # a0
        sw      a3, 11 * 4(a0)             # a1
        sw      a4, TASK_PID(a0)
        li      t0, RUNNABLE
        sw      t0, TASK_STATE(a0)
        ret

# timer_arm: ask the SBI for a timer interrupt TIMER_INTERVAL from now (64-bit time on RV32).
timer_arm:
1:      rdtimeh t1                         # read high, low, high again: if the high word
        rdtime  t0                         # changed, low wrapped in between, so try again
        rdtimeh t2
        bne     t1, t2, 1b
        li      a0, TIMER_INTERVAL
        add     a0, t0, a0
        sltu    a1, a0, t0                 # carry out of the low word
        add     a1, a1, t1
        sbi_call SBI_TIME, 0
        ret

# ---- traps ------------------------------------------------------------------------------------
# trap_vector: save the running task's registers into its save area, handle the trap on the
# kernel stack, then resume whichever task kernel_trap picked.
        .balign 4
trap_vector:
        priv_csrrw a0, sscratch, a0        # a0 = task, sscratch = the task's a0
        # every register but x0 (always zero) and a0 (x10, fetched from sscratch below)
        .irp    n, 1,2,3,4,5,6,7,8,9,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        sw      x\n, \n * 4(a0)
        .endr
        priv_csrr t0, sscratch
        sw      t0, 10 * 4(a0)
        priv_csrr t0, sepc
        sw      t0, TASK_SEPC(a0)
        la      sp, kernel_stack_top
        call    kernel_trap                # -> a0 = the task to run next

# user_return(a0 = task): load its registers and sret into it, in U-mode (sstatus.SPP is 0:
# boot cleared it, and every trap that gets here came from U-mode, as the kernel itself runs
# with interrupts off and panics on its own exceptions).
user_return:
        priv_csrw sscratch, a0
        lw      t0, TASK_SEPC(a0)
        priv_csrw sepc, t0
        .irp    n, 1,2,3,4,5,6,7,8,9,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        lw      x\n, \n * 4(a0)
        .endr
        lw      a0, 10 * 4(a0)
        priv_sret

# kernel_trap(a0 = task that trapped) -> a0 = task to run [xv6: usertrap]
kernel_trap:
        addi    sp, sp, -16
        sw      ra, 12(sp)
        sw      s0, 8(sp)
        mv      s0, a0
        priv_csrr t0, scause
        li      t1, SCAUSE_TIMER
        beq     t0, t1, 1f
        li      t1, SCAUSE_ECALL_U
        beq     t0, t1, 2f
        j       panic_trap                 # anything else is a bug: report it, power off

1:      la      t0, timer_interrupts       # timer: preempt the task
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        call    timer_arm
        mv      a0, s0
        call    schedule
        la      a1, timer_message
        call    announce
        j       3f

2:      lw      t0, TASK_SEPC(s0)          # system call: return past the ecall
        addi    t0, t0, 4
        sw      t0, TASK_SEPC(s0)
        mv      a0, s0
        call    syscall

3:      lw      s0, 8(sp)
        lw      ra, 12(sp)
        addi    sp, sp, 16
        ret

# syscall(a0 = task) -> a0 = task to run. Arguments and result live in the task's save area.
syscall:
        addi    sp, sp, -16
        sw      ra, 12(sp)
        sw      s0, 8(sp)
        mv      s0, a0
        lw      t0, 17 * 4(s0)             # a7: the call number
        li      t1, SYS_WRITE
        beq     t0, t1, sys_write
        li      t1, SYS_GETPID
        beq     t0, t1, sys_getpid
        li      t1, SYS_SCHED_YIELD
        beq     t0, t1, sys_sched_yield
        li      t1, SYS_EXIT
        beq     t0, t1, sys_exit
        li      t0, -ENOSYS
        j       syscall_result

sys_write:                                 # write(fd, buf, len): fd is ignored, all is console
        lw      a0, 11 * 4(s0)             # buf
        lw      a1, 12 * 4(s0)             # len
        li      t0, RAM_BASE               # the buffer must lie in RAM: a task cannot make the
        li      t1, RAM_BASE + RAM_SIZE    # kernel read a device or fault
        bltu    a0, t0, 1f
        bgtu    a1, t1, 1f
        sub     t1, t1, a1                 # buf <= RAM end - len, without overflowing
        bgtu    a0, t1, 1f
        call    console_write
        lw      t0, 12 * 4(s0)             # returns len
        j       syscall_result
1:      li      t0, -EFAULT
        j       syscall_result

sys_getpid:
        lw      t0, TASK_PID(s0)
        j       syscall_result

sys_sched_yield:
        sw      zero, 10 * 4(s0)           # returns 0 ...
        mv      a0, s0
        call    schedule                   # ... when the task runs again
        la      a1, yield_message
        call    announce
        j       syscall_done

sys_exit:
        li      t0, EXITED
        sw      t0, TASK_STATE(s0)
        la      a0, exit_message
        call    puts
        lw      a0, TASK_PID(s0)
        call    putdec
        la      a0, exited_text
        call    puts
        mv      a0, s0
        call    schedule                   # does not return when no task is left
        j       syscall_done

syscall_result:                            # t0 -> the task's a0; the same task continues
        sw      t0, 10 * 4(s0)
        mv      a0, s0
syscall_done:
        lw      s0, 8(sp)
        lw      ra, 12(sp)
        addi    sp, sp, 16
        ret

# schedule(a0 = current task) -> a0 = the next RUNNABLE task after it, round-robin (possibly
# itself). When none is left: print the summary and power off. [xv6: scheduler]
schedule:
        mv      t0, a0
        la      t2, tasks + NTASK * TASK_SIZE
1:      addi    t0, t0, TASK_SIZE
        bne     t0, t2, 2f
        la      t0, tasks                  # wrap around
2:      lw      t1, TASK_STATE(t0)
        bnez    t1, 3f                     # RUNNABLE: run it
        bne     t0, a0, 1b                 # not yet back where we started
        la      a0, summary_message        # every task has exited
        call    puts
        la      t0, timer_interrupts
        lw      a0, 0(t0)
        call    putdec
        la      a0, summary_end
        call    puts
        sbi_shutdown SRST_SUCCESS
3:      mv      a0, t0
        ret

# announce(a0 = next task, a1 = message) -> a0 = next task: print "<message><its pid>", so the
# output shows every switch.
announce:
        addi    sp, sp, -16
        sw      ra, 12(sp)
        sw      a0, 8(sp)
        mv      a0, a1
        call    puts
        lw      a0, 8(sp)
        lw      a0, TASK_PID(a0)
        call    putdec
        la      a0, newline
        call    puts
        lw      a0, 8(sp)
        lw      ra, 12(sp)
        addi    sp, sp, 16
        ret

# ---- user mode ----------------------------------------------------------------------------------
# task_main(a0 = name, a1 = lines) in U-mode [xv6: a user program]: print `lines` lines
# "<name>: i=<i> pid=<pid>", doing some work after each and yielding after every odd i,
# then exit. Each line is formatted first and written with one call, so a preemption can
# never split it.
task_main:
        mv      s0, a0                     # name
        mv      s1, a1                     # lines
        li      s2, 0                      # i
        addi    sp, sp, -64                # the line buffer
1:      li      a7, SYS_GETPID
        ecall
        mv      s3, a0
        mv      a0, sp
        mv      a1, s0
        call    fmt_str
        la      a1, text_i
        call    fmt_str
        mv      a1, s2
        call    fmt_dec
        la      a1, text_pid
        call    fmt_str
        mv      a1, s3
        call    fmt_dec
        li      t0, '\n'
        sb      t0, 0(a0)
        addi    a0, a0, 1
        sub     a2, a0, sp                 # write(1, buffer, length)
        mv      a1, sp
        li      a0, 1
        li      a7, SYS_WRITE
        ecall
        li      t0, WORK                   # work, so that the timer has something to preempt
2:      addi    t0, t0, -1
        bnez    t0, 2b
        andi    t0, s2, 1
        beqz    t0, 3f
        li      a7, SYS_SCHED_YIELD
        ecall
3:      addi    s2, s2, 1
        blt     s2, s1, 1b
        li      a0, 0                      # exit(0)
        li      a7, SYS_EXIT
        ecall

        .data
boot_message:   .asciz  "tinyos: booting, two tasks\n"
timer_message:  .asciz  "kernel: timer interrupt, run pid "
yield_message:  .asciz  "kernel: yield, run pid "
exit_message:   .asciz  "kernel: pid "
exited_text:    .asciz  " exited\n"
summary_message: .asciz "kernel: all tasks exited after "
summary_end:    .asciz  " timer interrupts\n"
newline:        .asciz  "\n"
name_a:         .asciz  "task A"
name_b:         .asciz  "task B"
text_i:         .asciz  ": i="
text_pid:       .asciz  " pid="

        .bss
        .balign 16
tasks:          .space  NTASK * TASK_SIZE
timer_interrupts: .space 4
        .balign 16
                .space  4096
kernel_stack_top:
                .space  USER_STACK
task_a_stack_top:
                .space  USER_STACK
task_b_stack_top:

        .include "console.inc"
