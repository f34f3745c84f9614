# touch: one guest memory access on a cold TLB, for the page-walk diagrams (notebook 06,
# vmkit/pagewalk.py) and the tests that count its references (tests/test_nested_paging.py).
#
# The kernel builds an Sv32 table: its code in an identity megapage, one 4 KiB page at VA.
# It turns paging on, flushes its TLB (sfence.vma), refetches (the nop puts the code page back
# in the TLB), and then loads from VA once, at `touch`: one fresh page, so only that load walks.
# It is not a workload: no loop, no output; it shuts down right after the load.
    .option norvc
    .equ VA, 0x40000000
    .equ KERNEL, 0x80000000
    .equ MEGA_RWX, 0xCF                  # V R W X A D
    .equ PAGE_RW, 0xC7                   # V R W A D
    .equ SBI_SRST, 0x53525354
    .globl _start
_start:
    la t0, root
    li t1, (KERNEL >> 22) * 4            # root[KERNEL >> 22]: the code, identity megapage
    add t1, t0, t1
    li t2, (KERNEL >> 12) << 10 | MEGA_RWX
    sw t2, 0(t1)
    la t3, leaves                        # root[VA >> 22] -> the leaf table
    srli t2, t3, 12
    slli t2, t2, 10
    ori t2, t2, 1
    li t1, (VA >> 22) * 4
    add t1, t0, t1
    sw t2, 0(t1)
    la t4, data                          # leaves[0]: VA -> data, 4 KiB
    srli t2, t4, 12
    slli t2, t2, 10
    ori t2, t2, PAGE_RW
    sw t2, 0(t3)
    li t2, 0x5a5a                        # what the load must find
    sw t2, 0(t4)
    srli t0, t0, 12                      # satp = Sv32 | root
    li t1, 0x80000000
    or t0, t0, t1
    li t5, VA
    csrw satp, t0
    sfence.vma                           # a cold TLB
    nop                                  # (its fetch puts the code page back)
touch:
    lw a0, 0(t5)                         # one fresh page: the walk under test
    li a0, 0                             # SBI system_reset: shutdown
    li a1, 0
    li a7, SBI_SRST
    li a6, 0
    ecall
1:  j 1b
    .align 12
root:   .space 4096
leaves: .space 4096
data:   .space 4096
