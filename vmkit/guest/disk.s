# disk: write ITERATIONS sectors of a known pattern to the disk, flush, read them back into
# another buffer, compare, and print "disk: N sectors written and read back, checksum 0x...".
# The same file copy under each kind of I/O virtualization: the driver is chosen at build time,
#   DISK_DRIVER = 1  virtio_blk.inc: a paravirtual disk (virtio-blk), requests in batches
#   DISK_DRIVER = 0  ata.inc: an emulated disk, register by register (ATA PIO style)
# Word i of the data (counted from sector 0) is (i * 0x9E3779B1) ^ 0x5A5A5A5A. The driver
# finishes a request by the device's interrupt (PLIC source DISK_IRQ), taken by trap_vector.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
.ifndef ITERATIONS
        .equ    ITERATIONS, 16             # sectors
.endif
.ifndef DISK_DRIVER
        .equ    DISK_DRIVER, 1
.endif
.if DISK_DRIVER
        .include "virtio.inc"
        .include "virtio_blk.inc"
.else
        .include "ata.inc"
.endif
        .include "plic.inc"
        .equ    WORDS, ITERATIONS * 128

        .text
        .globl  _start
_start:
        la      sp, kernel_stack_top
        la      t0, device_trap_vector
        priv_csrw stvec, t0
        plic_enable DISK_IRQ               # the disk's completion interrupt
        call    disk_init
        la      a1, no_disk
        bnez    a0, fail
        la      t0, data_out               # the pattern
        li      t1, 0
        li      t2, WORDS
        li      a2, 0x9E3779B1
        li      a3, 0x5A5A5A5A
1:      mul     a4, t1, a2
        xor     a4, a4, a3
        sw      a4, 0(t0)
        addi    t0, t0, 4
        addi    t1, t1, 1
        bltu    t1, t2, 1b
        li      a0, 0
        la      a1, data_out
        li      a2, ITERATIONS
        call    disk_write
        la      a1, write_failed
        bnez    a0, fail
        call    disk_flush
        la      a1, flush_failed
        bnez    a0, fail
        li      a0, 0
        la      a1, data_in
        li      a2, ITERATIONS
        call    disk_read
        la      a1, read_failed
        bnez    a0, fail
        la      t0, data_out               # compare, and sum what came back
        la      t1, data_in
        li      t2, WORDS
        li      s0, 0
2:      lw      a2, 0(t0)
        lw      a3, 0(t1)
        la      a1, mismatch
        bne     a2, a3, fail
        add     s0, s0, a3
        addi    t0, t0, 4
        addi    t1, t1, 4
        addi    t2, t2, -1
        bnez    t2, 2b
        la      a0, line_start
        call    puts
        li      a0, ITERATIONS
        call    putdec
        la      a0, line_middle
        call    puts
        mv      a0, s0
        call    puthex
        la      a0, line_end
        call    puts
        sbi_shutdown SRST_SUCCESS

fail:   mv      a0, a1                     # a1 = what went wrong
        call    puts
        sbi_shutdown SRST_FAILURE

        .data
line_start:     .asciz  "disk: "
line_middle:    .asciz  " sectors written and read back, checksum "
line_end:       .asciz  "\n"
no_disk:        .asciz  "disk: no disk found\n"
write_failed:   .asciz  "disk: write failed\n"
flush_failed:   .asciz  "disk: flush failed\n"
read_failed:    .asciz  "disk: read failed\n"
mismatch:       .asciz  "disk: the data read back differs\n"

        .bss
        .balign 16
data_out:       .space  512 * ITERATIONS
data_in:        .space  512 * ITERATIONS
        .space  4096
kernel_stack_top:

        .include "console.inc"
