# vs_paging.s - a guest kernel that turns on Sv32 paging the way Linux does.
#
# Linux's relocate_enable_mmu (arch/riscv/kernel/head.S) runs at the physical address it was
# loaded at and must continue at its linked virtual address: it points stvec at the *virtual*
# address of the instruction after the satp write, then writes satp. The very next fetch, at
# the old physical pc, is no longer mapped: an instruction page fault, whose trap vector is
# the next instruction at its virtual address. No jump is needed.
#
# This guest does exactly that with a 4 MiB megapage: VA PAGE_OFFSET.. -> the megapage the
# kernel was loaded in, plus an identity megapage for the UART. It is position-independent
# (everything is pc-relative), so it runs wherever it is loaded: at 0x80000000 under vmkit's
# VMM, at 0x80400000 under QEMU with OpenSBI. It prints offsets from its load base, so the
# output is the same in both places, and powers off through the SBI (SRST).
#
# Expected output, by the privileged spec (4.3.1: instruction page fault, scause 12, stval and
# sepc = the faulting virtual address, i.e. the physical address of `high`):
#   scause 0000000c / stval = sepc = base + offset of `high` / pc = PAGE_OFFSET + that offset

    .option norvc
    .option norelax
    .equ PAGE_OFFSET, 0xC0000000
    .equ UART, 0x10000000
    .equ SATP_SV32, 0x80000000
    .equ PTE_KERNEL, 0xCF               # V R W X A D
    .equ PTE_IO, 0xC7                   # V R W A D
    .equ SBI_SRST, 0x53525354

    .text
    .globl _start
_start:
    auipc s0, 0                         # s0 = load base (the kernel starts its megapage)
    la t0, root                         # root[PAGE_OFFSET >> 22] = the kernel's megapage
    li t1, (PAGE_OFFSET >> 22) * 4
    add t1, t0, t1
    srli t2, s0, 12
    slli t2, t2, 10
    ori t2, t2, PTE_KERNEL
    sw t2, 0(t1)
    li t1, (UART >> 22) * 4             # root[UART >> 22] = the UART, identity
    add t1, t0, t1
    li t2, (UART >> 12) << 10 | PTE_IO
    sw t2, 0(t1)
    li s1, PAGE_OFFSET                  # s1 = virtual - physical
    sub s1, s1, s0
    la t1, high                         # stvec = the virtual address of `high`
    add t1, t1, s1
    csrw stvec, t1
    srli t0, t0, 12                     # satp = Sv32, root
    li t1, SATP_SV32
    or t0, t0, t1
    sfence.vma
    csrw satp, t0
    .align 2
high:                                   # fetched at its physical address: page fault
    auipc s2, 0                         # s2 = where we run now: virtual
    csrr s3, scause
    csrr s4, stval
    csrr s5, sepc
    la a0, msg_scause
    mv a1, s3
    call print
    la a0, msg_stval
    sub a1, s4, s0
    call print
    la a0, msg_sepc
    sub a1, s5, s0
    call print
    la a0, msg_pc
    li t0, PAGE_OFFSET
    sub a1, s2, t0
    call print
    li a0, 0                            # SBI system_reset(shutdown, no reason)
    li a1, 0
    li a7, SBI_SRST
    li a6, 0
    ecall
1:  j 1b

# print(a0 = label, a1 = value): "label" then a1 as 8 hex digits and a newline.
print:
    li t0, UART
1:  lbu t1, 0(a0)
    beqz t1, 2f
    sb t1, 0(t0)
    addi a0, a0, 1
    j 1b
2:  li t2, 28
3:  srl t1, a1, t2
    andi t1, t1, 15
    addi t1, t1, '0'
    li t3, '9'
    ble t1, t3, 4f
    addi t1, t1, 'a' - '9' - 1
4:  sb t1, 0(t0)
    addi t2, t2, -4
    bgez t2, 3b
    li t1, '\n'
    sb t1, 0(t0)
    ret

msg_scause: .asciz "scause "
msg_stval:  .asciz "stval  base+"
msg_sepc:   .asciz "sepc   base+"
msg_pc:     .asciz "pc     PAGE_OFFSET+"

    .align 12
root: .space 4096
