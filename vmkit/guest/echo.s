# echo: answer ITERATIONS frames "ping i" from the virtio-net NIC with "pong i" to their
# sender (ping.s sends them); print every frame answered.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"

.ifndef ITERATIONS
        .equ    ITERATIONS, 4
.endif
        .equ    FRAME, 60                  # Ethernet's minimum frame without FCS

        .text
        .globl  _start
_start:
        la      sp, kernel_stack_top
        la      t0, net_trap
        priv_csrw stvec, t0
        call    net_init
        bnez    a0, no_nic
        li      s0, 0
1:      call    net_wait                   # a0 = frame, a1 = length
        mv      s1, a0
        add     t0, a0, a1
        sb      zero, 0(t0)                # a NUL after it (the buffer has room): puts
        la      a0, echo_says
        call    puts
        addi    a0, s1, 14
        call    puts
        la      a0, newline
        call    puts
        addi    a0, s1, 6                  # to the sender
        call    net_frame
        la      a1, pong_text
        call    fmt_str
        addi    a1, s1, 14 + 5             # "ping " is 5 bytes: the rest is i
        call    fmt_str
        call    net_repost
        li      a1, FRAME
        call    net_send
        addi    s0, s0, 1
        li      t0, ITERATIONS
        bltu    s0, t0, 1b
        sbi_shutdown SRST_SUCCESS
no_nic: la      a0, no_nic_text
        call    puts
        sbi_shutdown SRST_FAILURE

        .data
pong_text:      .asciz  "pong "
echo_says:      .asciz  "echo: got "
newline:        .asciz  "\n"
no_nic_text:    .asciz  "echo: no virtio-net device\n"

        .bss
        .balign 16
        .space  4096
kernel_stack_top:

        .include "virtio_net.inc"
        .include "console.inc"
