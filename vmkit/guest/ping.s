# ping: send ITERATIONS frames "ping i" through the virtio-net NIC and wait for each answer
# "pong i" (echo.s answers); print every answer. The first ping goes to the broadcast address
# (the pinger does not know the echo's MAC yet, as ARP would not); the rest go to the source
# MAC of the first answer, so a learning switch floods only the first.

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
        li      s0, 0                      # i
1:      la      a0, peer
        call    net_frame
        la      a1, ping_text
        call    fmt_str
        mv      a1, s0
        call    fmt_dec
        li      a1, FRAME
        call    net_send
        call    net_wait                   # a0 = frame, a1 = length
        mv      s1, a0
        add     t0, a0, a1
        sb      zero, 0(t0)                # a NUL after it (the buffer has room): puts
        la      t0, peer                   # answer's source: the echo's MAC
        li      t1, 0
2:      add     t2, s1, t1
        lbu     t2, 6(t2)
        add     a0, t0, t1
        sb      t2, 0(a0)
        addi    t1, t1, 1
        li      t2, 6
        bltu    t1, t2, 2b
        la      a0, ping_says
        call    puts
        addi    a0, s1, 14
        call    puts
        la      a0, newline
        call    puts
        call    net_repost
        addi    s0, s0, 1
        li      t0, ITERATIONS
        bltu    s0, t0, 1b
        sbi_shutdown SRST_SUCCESS
no_nic: la      a0, no_nic_text
        call    puts
        sbi_shutdown SRST_FAILURE

        .data
peer:           .byte   0xff, 0xff, 0xff, 0xff, 0xff, 0xff
ping_text:      .asciz  "ping "
ping_says:      .asciz  "ping: got "
newline:        .asciz  "\n"
no_nic_text:    .asciz  "ping: no virtio-net device\n"

        .bss
        .balign 16
        .space  4096
kernel_stack_top:

        .include "virtio_net.inc"
        .include "console.inc"
