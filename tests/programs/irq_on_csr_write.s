# irq_on_csr_write.s - an interrupt that a CSR write makes takeable is taken at once.
#
# Privileged spec 3.1.9: an interrupt i traps when it is pending, enabled in mie, and
# globally enabled; these are evaluated continuously, so once a CSR write (mstatus.MIE, mie,
# mip) makes one takeable it is taken before the next instruction: mepc = the address after
# the write and the loop behind it never runs. Three ways in:
#   msi:  MSIP pending (CLINT), MSIE set, then `csrsi mstatus, MIE`
#   ssi:  MIE and SSIE on, then `csrsi mip, SSIP` (not delegated: taken in M)
#   mti:  MTIP pending (mtimecmp = 0), MIE on, then `csrw mie, MTIE`
# The handler does not mret (it continues in M with MIE cleared by the trap), so the run stays
# comparable with Spike's commit log (tests/test_trace_spike.py), also under --trace.
.include "vmkit_test.inc"

# Continue at `label` when the interrupt comes; s0 counts loop trips before it.
.macro ARM label
    la s4, \label
    li s0, 0
.endm

main:
    addi sp, sp, -16
    sw ra, 12(sp)
    la t0, irq_handler
    csrw mtvec, t0

    li t0, CLINT_MSIP               # msi
    li t1, 1
    sw t1, 0(t0)
    li t0, 1 << IRQ_MSI
    csrw mie, t0
    ARM 2f
    la s1, 1f
    csrsi mstatus, MSTATUS_MIE
1:  addi s0, s0, 1
    j 1b
2:  li t0, CLINT_MSIP
    sw zero, 0(t0)
    sub s3, s3, s1
    CHECK "msi-cause", s2, 0x80000003
    CHECK "msi-epc", s3, 0
    CHECK "msi-loop", s0, 0

    li t0, 1 << IRQ_SSI             # ssi
    csrw mie, t0
    csrsi mstatus, MSTATUS_MIE
    ARM 2f
    la s1, 1f
    csrsi mip, 1 << IRQ_SSI
1:  addi s0, s0, 1
    j 1b
2:  csrci mip, 1 << IRQ_SSI
    sub s3, s3, s1
    CHECK "ssi-cause", s2, 0x80000001
    CHECK "ssi-epc", s3, 0
    CHECK "ssi-loop", s0, 0

    li t0, CLINT_MTIMECMP           # mti
    sw zero, 0(t0)
    sw zero, 4(t0)
    csrsi mstatus, MSTATUS_MIE
    ARM 2f
    la s1, 1f
    li t0, 1 << IRQ_MTI
    csrw mie, t0
1:  addi s0, s0, 1
    j 1b
2:  li t0, CLINT_MTIMECMP
    li t1, -1
    sw t1, 4(t0)
    sw t1, 0(t0)
    sub s3, s3, s1
    CHECK "mti-cause", s2, 0x80000007
    CHECK "mti-epc", s3, 0
    CHECK "mti-loop", s0, 0

    lw ra, 12(sp)
    addi sp, sp, 16
    ret

# Record mcause/mepc, mask every interrupt, continue at s4 in M-mode (MIE is 0 after the trap).
    .align 2, 0
irq_handler:
    csrr s2, mcause
    csrr s3, mepc
    csrw mie, zero
    jr s4
