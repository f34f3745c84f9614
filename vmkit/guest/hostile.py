"""Hostile guests: kernels that misbehave on purpose, to show that one guest cannot stop the host
or another guest (the lecture's HALT example: *a vendég HALT utasítása nem állíthatja meg a
gazdát*; x86: a guest's HLT or an endless loop is a VM exit or a timer preemption for KVM,
never a stopped host CPU).

    halt      wfi with interrupts off: nothing can ever wake it (x86: cli; hlt)
    spin      an endless loop, never a trap (x86: jmp $)
    outside   stores outside its RAM, where other VMs' RAM, the VMM's tables and the host's
              devices lie in host memory; each faults, its handler steps over it and counts
              it in s0, then it shuts down
    traploop  an illegal instruction, handled, in a loop: a trap at every other instruction
    storm     an illegal instruction whose handler address faults too: a trap storm

Each is small and runs under every engine (`hostile(kind)` gives its Program, linked at the
guest's 0x8000_0000). Used by notebook 05, `vmkit run --guest bad=halt ...` and the tests.
"""

HOSTILE_KINDS = ("halt", "spin", "outside", "traploop", "storm")

SBI = """
.macro shutdown code
        li a0, 0
        li a1, \\code
        li a7, 0x53525354
        li a6, 0
        ecall
.endm
"""
# Stores outside its RAM: just past it, where other VMs' RAM and the engines' tables may lie
# in host memory, the host's devices (the finisher's power-off code among them; not the PLIC's
# address: that is the VM's own PLIC).
OUTSIDE = [0x8040_0000, 0x8080_0000, 0x8100_0000, 0x8140_0000, 0x8180_0000, 0x8200_0000,
           0x8300_0000, 0x0010_0000, 0x0200_4000, 0x0300_0000, 0x0000_0000, 0xFF00_0000]
OUTSIDE_VALUE = 0xDEADBEEF       # the second store at each address: look for it in host RAM
HOSTILE = {
    "outside": "_start: la t0, skip\n csrw stvec, t0\n li s0, 0\n" + "".join(
        f" li t1, {a:#x}\n li t2, 0x5555\n sw t2, 0(t1)\n li t2, {OUTSIDE_VALUE:#x}\n"
        " sw t2, 4(t1)\n" for a in OUTSIDE) + " shutdown 0\nskip: csrr t0, sepc\n"
        " addi t0, t0, 4\n csrw sepc, t0\n addi s0, s0, 1\n sret\n",
    "halt": "_start: csrci sstatus, 2\n csrw sie, zero\n wfi\n j _start\n",
    "spin": "_start: j _start\n",
    "traploop": "_start: la t0, skip\n csrw stvec, t0\n1: unimp\n j 1b\nskip: csrr t0, sepc\n"
                " addi t0, t0, 4\n csrw sepc, t0\n sret\n",
    "storm": "_start: li t0, 0x40000000\n csrw stvec, t0\n unimp\n",
}


def hostile(kind):
    """The Program of hostile guest `kind` (one of HOSTILE_KINDS)."""
    if kind not in HOSTILE:
        raise ValueError(f"unknown hostile guest {kind!r}; choose one of "
                         f"{', '.join(HOSTILE_KINDS)}")
    from vmkit.asm import assemble                 # not at import time, as build() does
    return assemble(SBI + HOSTILE[kind], f"{kind}.s")
