# pte_script.s - a guest kernel with Sv32 paging on that runs a script of page-table edits and
# accesses, so one guest covers what shadow paging must get right (tests/test_shadow_paging.py).
#
# Two address spaces: space 0 (root1, ASID 1) and space 1 (root2, ASID 2). Each maps the kernel
# megapage (VA = PA = 0x80000000, V R W X, no A/D: the walker sets them), the UART megapage,
# and the test window VA 0x40000000-0x4000ffff through a leaf table of its own (l0a, l0b);
# window page 15 is the user code page (V R X U). The script edits entries 0-14.
#
# Script: words (op, a, b), ending with op 0. Window page p is at VA 0x40000000 + p*4096.
#   0 end: print both leaf tables and the kernel's megapage PTE, then power off (SBI SRST)
#   1 pte: l0[a >> 4 & 1][a & 15] = PTE to frame b >> 16 with flags b & 0x3ff; frames 0-7 are
#          data pages (word 0 `ret`, word 1 0x11111111 * (frame + 1)), 12 the user code page,
#          13 l0a itself, 15 a frame outside RAM (0x2000)
#   2 sfence.vma: rs1 = VA of page a (x0 if a = -1; a & 16: of its alias in the megapage
#     window), rs2 = ASID b (x0 if b = -1)
#   3 load word 1 of page a in S-mode, print "L" and it (0xdead if it faulted)
#   4 store b at offset 0x7fc of page a in S-mode, print "S"
#   5 csrw satp: space a (no fence: ASIDs)
#   6 sstatus.SUM = a & 1, MXR = a >> 1 & 1
#   7 load word 1 of page a in U-mode, print "U" and it
#   8 store b at offset 0x7fc of page a in U-mode, print "U"
#   9 call page a in S-mode (its word 0 is `ret`), print "X"
#  10 print "P" and l0[a >> 4 & 1][a & 15]
#  11 megapage window: root[a & 1] maps VA 0x40400000 (4 MiB) to guest RAM, flags b & 0x3ff
#  12 load word 1 of data page a through the megapage window in S-mode, print "M" and it
# A trap prints "T" scause and "V" stval; a faulting load or store is skipped, a faulting call
# returns (sepc = ra), an ecall from U-mode ends the user-mode step.

    .option norvc
    .option norelax
    .equ UART, 0x10000000
    .equ WINDOW, 0x40000000
    .equ MEGA, 0x40400000                # the megapage window: VA MEGA + x = PA 0x80000000 + x
    .equ SBI_SRST, 0x53525354
    .equ SUM_MXR, 3 << 18
    .equ SPP, 1 << 8

    .text
    .globl _start
_start:
    la t0, pages                        # data pages: `ret`, then (frame + 1) * 0x11111111
    li t1, 0
    li t2, 8
    li t3, 0x00008067
    li t4, 0x11111111
    mv t5, t4
1:  sw t3, 0(t0)
    sw t5, 4(t0)
    add t5, t5, t4
    li t6, 4096
    add t0, t0, t6
    addi t1, t1, 1
    blt t1, t2, 1b
    la a0, root1
    la a1, l0a
    call build_space
    la a0, root2
    la a1, l0b
    call build_space
    la t0, trap
    csrw stvec, t0
    la s0, script
    li a0, 0
    call set_space
    j next

# build_space(a0 = root, a1 = leaf table): kernel, UART, window and the user code page.
build_space:
    li t0, 0x80000000 >> 12 << 10 | 0x0f          # V R W X, A/D clear
    li t1, (0x80000000 >> 22) * 4
    add t1, t1, a0
    sw t0, 0(t1)
    li t0, UART >> 12 << 10 | 0xc7                # V R W A D
    li t1, (UART >> 22) * 4
    add t1, t1, a0
    sw t0, 0(t1)
    srli t0, a1, 12                               # pointer to the leaf table
    slli t0, t0, 10
    ori t0, t0, 1
    li t1, (WINDOW >> 22) * 4
    add t1, t1, a0
    sw t0, 0(t1)
    la t0, ucode                                  # page 15: user code, V R X U
    srli t0, t0, 12
    slli t0, t0, 10
    ori t0, t0, 0x1b
    sw t0, 60(a1)
    ret

# set_space(a0 = 0 or 1): satp = that space's root, its ASID (1 or 2)
set_space:
    la t0, root1
    beqz a0, 1f
    la t0, root2
1:  srli t0, t0, 12
    addi t1, a0, 1
    slli t1, t1, 22
    or t0, t0, t1
    li t1, 0x80000000
    or t0, t0, t1
    csrw satp, t0
    ret

# -- the interpreter -----------------------------------------------------------------------
next:
    lw s2, 0(s0)
    lw s3, 4(s0)
    lw s4, 8(s0)
    addi s0, s0, 12
    li t0, WINDOW                       # s5 = VA of page a
    andi t1, s3, 15
    slli t1, t1, 12
    add s5, t0, t1
    li a1, 0xdead
    li t0, 1
    beq s2, t0, op_pte
    li t0, 2
    beq s2, t0, op_fence
    li t0, 3
    beq s2, t0, op_load
    li t0, 4
    beq s2, t0, op_store
    li t0, 5
    beq s2, t0, op_satp
    li t0, 6
    beq s2, t0, op_status
    li t0, 7
    beq s2, t0, op_uload
    li t0, 8
    beq s2, t0, op_ustore
    li t0, 9
    beq s2, t0, op_call
    li t0, 10
    beq s2, t0, op_print
    li t0, 11
    beq s2, t0, op_mega
    li t0, 12
    beq s2, t0, op_mload
    j op_end

slot:                                   # t0 = address of l0[a >> 4 & 1][a & 15]
    la t0, l0a
    andi t1, s3, 16
    beqz t1, 1f
    la t0, l0b
1:  andi t1, s3, 15
    slli t1, t1, 2
    add t0, t0, t1
    ret

op_pte:
    call slot
    srli t1, s4, 16                     # frame
    li t2, 8
    bltu t1, t2, 1f
    li t2, 12
    la t3, ucode
    beq t1, t2, 2f
    li t2, 13
    la t3, l0a
    beq t1, t2, 2f
    li t3, 0x2000
    j 2f
1:  la t3, pages
    slli t1, t1, 12
    add t3, t3, t1
2:  srli t3, t3, 12
    slli t3, t3, 10
    andi t1, s4, 0x3ff
    or t3, t3, t1
    sw t3, 0(t0)
    j next

op_fence:
    andi t0, s3, 16                     # the alias of page a in the megapage window
    beqz t0, 1f
    call alias
    mv s5, t0
1:  li t0, -1
    andi t1, s4, 0x1ff
    beq s3, t0, 1f
    beq s4, t0, 2f
    sfence.vma s5, t1
    j next
2:  sfence.vma s5, zero
    j next
1:  beq s4, t0, 3f
    sfence.vma zero, t1
    j next
3:  sfence.vma zero, zero
    j next

op_load:
    lw a1, 4(s5)
    la a0, msg_load
    call print
    j next

op_store:
    sw s4, 0x7fc(s5)
    la a0, msg_store
    mv a1, s4
    call print
    j next

op_satp:
    andi a0, s3, 1
    call set_space
    j next

op_status:
    li t0, SUM_MXR
    csrc sstatus, t0
    andi t1, s3, 3
    slli t1, t1, 18
    csrs sstatus, t1
    j next

op_uload:
    la t0, uload
    j 1f
op_ustore:
    la t0, ustore
1:  la t1, ucode                        # the routine's VA in window page 15
    sub t0, t0, t1
    li t1, WINDOW + 15 * 4096
    add t0, t0, t1
    csrw sepc, t0
    li t0, SPP
    csrc sstatus, t0
    mv a0, s5
    mv a2, s4
    sret
user_done:                              # the user routine's ecall came here
    la a0, msg_user
    call print
    j next

op_call:
    jalr ra, 0(s5)
    la a0, msg_call
    call print
    j next

alias:                                  # t0 = VA of data page a's alias in the megapage
    la t0, pages
    li t1, 0x80000000 - MEGA
    sub t0, t0, t1
    andi t1, s3, 7
    slli t1, t1, 12
    add t0, t0, t1
    ret

op_mega:
    la t0, root1
    andi t1, s3, 1
    beqz t1, 1f
    la t0, root2
1:  li t1, 0x80000000 >> 12 << 10
    andi t2, s4, 0x3ff
    or t1, t1, t2
    sw t1, (MEGA >> 22) * 4(t0)
    j next

op_mload:
    call alias
    lw a1, 4(t0)
    la a0, msg_mega
    call print
    j next

op_print:
    call slot
    lw a1, 0(t0)
    la a0, msg_pte
    call print
    j next

op_end:
    la s6, l0a
    li s7, 16
1:  la a0, msg_a
    lw a1, 0(s6)
    call print
    li t0, 4096                         # l0b follows l0a
    add t0, s6, t0
    lw a1, 0(t0)
    la a0, msg_b
    call print
    addi s6, s6, 4
    addi s7, s7, -1
    bnez s7, 1b
    la a0, msg_kernel
    la t0, root1
    li t1, (0x80000000 >> 22) * 4
    add t0, t0, t1
    lw a1, 0(t0)
    call print
    la a0, msg_mega
    la t0, root1
    lw a1, (MEGA >> 22) * 4(t0)
    call print
    la a0, msg_mega
    la t0, root2
    lw a1, (MEGA >> 22) * 4(t0)
    call print
    li a0, 0                            # SBI system_reset(shutdown, no reason)
    li a1, 0
    li a7, SBI_SRST
    li a6, 0
    ecall
1:  j 1b

# -- the trap handler (S-mode) -------------------------------------------------------------
    .align 2
trap:
    csrr t4, scause
    li t5, 8                            # ecall from U-mode: the user step is over
    beq t4, t5, user_done
    la t6, saved
    sw ra, 0(t6)
    sw a0, 4(t6)
    sw a1, 8(t6)
    la a0, msg_trap
    mv a1, t4
    call print
    la a0, msg_tval
    csrr a1, stval
    call print
    la t6, saved
    lw ra, 0(t6)
    lw a0, 4(t6)
    lw a1, 8(t6)
    csrr t4, scause
    li t5, 1                            # a faulting call returns
    beq t4, t5, 1f
    li t5, 12
    beq t4, t5, 1f
    csrr t4, sepc                       # a faulting load or store is skipped
    addi t4, t4, 4
    csrw sepc, t4
    sret
1:  csrw sepc, ra
    sret

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

msg_load:   .asciz "L "
msg_store:  .asciz "S "
msg_user:   .asciz "U "
msg_call:   .asciz "X "
msg_pte:    .asciz "P "
msg_trap:   .asciz "T "
msg_tval:   .asciz "V "
msg_a:      .asciz "a "
msg_b:      .asciz "b "
msg_kernel: .asciz "K "
msg_mega:   .asciz "M "
    .align 2
saved: .word 0, 0, 0

    .align 2
script:
    # A kernel page: a load sets A, a store D (the walker's A/D, Svadu-like).
    .word 1, 1, 0 << 16 | 0x07          # l0a[1] = frame 0, V R W
    .word 2, -1, -1
    .word 10, 1, 0
    .word 3, 1, 0
    .word 10, 1, 0
    .word 4, 1, 0x12345678
    .word 10, 1, 0
    # A user page from S: a fault without SUM, a load with it; U-mode may load and store.
    .word 1, 2, 1 << 16 | 0x1f          # l0a[2] = frame 1, V R W X U
    .word 2, 2, 1                       # sfence.vma page 2, ASID 1
    .word 3, 2, 0
    .word 6, 1, 0
    .word 3, 2, 0
    .word 9, 2, 0                       # S calls a user page: a fetch fault, SUM or not
    .word 6, 0, 0
    .word 7, 2, 0
    .word 8, 2, 0xcafe
    .word 7, 1, 0                       # a kernel page from U-mode: fault
    .word 10, 2, 0
    # Execute-only: a load faults unless MXR.
    .word 1, 3, 2 << 16 | 0x09          # V X
    .word 2, 3, -1
    .word 3, 3, 0
    .word 6, 2, 0
    .word 3, 3, 0
    .word 6, 0, 0
    .word 9, 3, 0
    # Unmapped, remapped, unmapped: sfence.vma by address.
    .word 3, 4, 0
    .word 4, 4, 1
    .word 1, 4, 3 << 16 | 0xc7
    .word 2, 4, -1
    .word 3, 4, 0
    .word 1, 4, 4 << 16 | 0xc7
    .word 2, 4, 1
    .word 3, 4, 0
    .word 1, 4, 0
    .word 2, -1, 1
    .word 3, 4, 0
    # A cleared A/D: after the fence the walker sets them again.
    .word 1, 1, 0 << 16 | 0x07
    .word 2, 1, 1
    .word 10, 1, 0
    .word 3, 1, 0
    .word 10, 1, 0
    # Two spaces: the same VA, two frames; ASIDs keep both; a fence by ASID.
    .word 1, 16 | 1, 5 << 16 | 0x07     # l0b[1] = frame 5
    .word 5, 1, 0
    .word 3, 1, 0
    .word 5, 0, 0
    .word 3, 1, 0
    .word 1, 16 | 1, 6 << 16 | 0x07     # edit space 1 from space 0, fence its ASID
    .word 2, -1, 2
    .word 5, 1, 0
    .word 3, 1, 0
    .word 5, 0, 0
    # Isolation: a frame outside RAM, and the guest's own page table mapped writable.
    .word 1, 5, 15 << 16 | 0x0f
    .word 2, 5, 1
    .word 3, 5, 0
    .word 4, 5, 7
    .word 9, 5, 0
    .word 1, 6, 13 << 16 | 0x07
    .word 2, 6, 1
    .word 3, 6, 0
    .word 4, 6, 0x55
    .word 10, 6, 0
    # A guest megapage: shadowed as 4 KiB pages; a fence by any address in it drops them all.
    .word 11, 0, 0x03                   # V R
    .word 2, -1, 1
    .word 12, 0, 0
    .word 12, 3, 0
    .word 11, 0, 0x09                   # V X: a load needs MXR now
    .word 2, 16 | 5, 1                  # fence another 4 KiB page of the megapage
    .word 12, 0, 0
    .word 12, 3, 0
    .word 11, 0, 0x0b                   # V R X, fenced by its first page
    .word 2, 16, -1
    .word 12, 1, 0
    # Reserved encodings and a missing V: page faults.
    .word 1, 7, 0 << 16 | 0x05          # W without R
    .word 1, 8, 0 << 16 | 0x06          # not valid
    .word 2, -1, -1
    .word 3, 7, 0
    .word 3, 8, 0
    .word 0, 0, 0
script_end:

    .align 12
ucode:                                  # window page 15 (V R X U)
    ret
uload:
    lw a1, 4(a0)
    ecall
ustore:
    sw a2, 0x7fc(a0)
    ecall
    .align 12
root1: .space 4096
root2: .space 4096
l0a: .space 4096
l0b: .space 4096
pages: .space 8 * 4096
