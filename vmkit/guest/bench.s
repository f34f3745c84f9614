# Simulator-speed workloads for `vmkit bench` (not a lecture program).
#
# Assembled with two symbols set by the benchmark:
#   WORKLOAD  0 = intloop (an integer/branch loop), 1 = memcpy (copy 4 KiB, word by word)
#   SV32      0 = run in M-mode with paging off,   1 = run in S-mode with Sv32 on (4 KiB pages)
# and ITERATIONS (loop trips). The program powers the machine off when done.

        .option norvc
        .equ    FINISHER, 0x100000
        .equ    PTE_VRWXAD, 0xCF               # V R W X A D: a kernel page, already touched

        .text
        .globl  _start
_start:
.if SV32
        # PMP: without an entry, S-mode may touch nothing (QEMU implements 16 entries).
        li      t0, 0xFFFFFFFF
        csrw    pmpaddr0, t0
        li      t0, 0x1F                       # NAPOT, R W X: all of memory
        csrw    pmpcfg0, t0
        # Identity-map the first 4 MiB of RAM with 4 KiB pages: a root table whose entry for
        # VPN[1] = 0x200 (0x8000_0000 >> 22) points to one leaf table of 1024 PTEs.
        la      t0, leaf_table
        li      t1, 0x80000000 >> 12           # first physical page number
        li      t2, 1024
1:      slli    t3, t1, 10
        ori     t3, t3, PTE_VRWXAD
        sw      t3, 0(t0)
        addi    t0, t0, 4
        addi    t1, t1, 1
        addi    t2, t2, -1
        bnez    t2, 1b
        la      t0, leaf_table
        srli    t0, t0, 12
        slli    t0, t0, 10
        ori     t0, t0, 1                      # V only: a pointer to the next level
        la      t1, root_table
        li      t2, 0x200 * 4                  # byte offset of root entry 0x200
        add     t2, t1, t2
        sw      t0, 0(t2)
        srli    t1, t1, 12
        li      t0, 1 << 31                    # MODE = Sv32
        or      t0, t0, t1
        csrw    satp, t0
        sfence.vma
        # Enter S-mode at `work`; its ecall comes back to `done` in M-mode.
        la      t0, done
        csrw    mtvec, t0
        li      t0, 1 << 11                    # mstatus.MPP = S
        csrw    mstatus, t0
        la      t0, work
        csrw    mepc, t0
        mret
.else
        j       work
.endif

work:
        li      s0, ITERATIONS
.if WORKLOAD == 0
        li      a0, 0
1:      addi    a0, a0, 1
        xor     a1, a0, s0
        bne     a0, s0, 1b
.else
2:      la      a0, source
        la      a1, destination
        li      a2, 1024
1:      lw      t0, 0(a0)
        sw      t0, 0(a1)
        addi    a0, a0, 4
        addi    a1, a1, 4
        addi    a2, a2, -1
        bnez    a2, 1b
        addi    s0, s0, -1
        bnez    s0, 2b
.endif
.if SV32
        ecall
.endif
done:
        li      t0, FINISHER
        li      t1, 0x5555
        sw      t1, 0(t0)
3:      j       3b

        .bss
        .balign 4096
root_table:
        .space  4096
leaf_table:
        .space  4096
source:
        .space  4096
destination:
        .space  4096
