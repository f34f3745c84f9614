# Zicsr, Zifencei, privileged and hypervisor (H) instructions.
    .option arch, +h
    .text
trap_entry:
    csrrw   a0, mstatus, a1
    csrrs   a0, mie, zero
    csrrc   t0, mip, t1
    csrrwi  a0, mscratch, 31
    csrrsi  a0, 0x300, 1
    csrrci  a0, sstatus, 0
    csrrw   a0, sscratch, 5            # register-form name with an immediate: csrrwi
    csrrs   a0, sie, 2
    csrrc   a0, sip, 4
    csrr    a0, mcause
    csrr    a1, 0xf14
    csrw    mtvec, t0
    csrw    satp, 0
    csrs    mstatus, a0
    csrs    sstatus, 2
    csrc    mstatus, a1
    csrc    sie, 0x1f
    csrwi   mepc, 4
    csrsi   mie, 8
    csrci   sip, 2
    csrw    hstatus, a0
    csrr    a0, hgatp
    csrw    vsatp, zero
    csrr    a0, vsstatus
    csrr    a0, pmpaddr0
    csrw    pmpcfg0, a0
    csrr    a0, cycle
    csrr    a0, mhartid
    rdcycle a0
    rdtime  a1
    rdinstret a2
    rdcycleh a3
    rdtimeh a4
    rdinstreth a5
    unimp
    fence
    fence   rw, rw
    fence   iorw, iorw
    fence   r, w
    fence   w, r
    fence   io, o
    fence.tso
    fence.i
    ecall
    ebreak
    sret
    mret
    wfi
    sfence.vma
    sfence.vma a0
    sfence.vma a0, a1
    sfence.vma zero, t0
    hfence.vvma
    hfence.vvma a0
    hfence.vvma a0, a1
    hfence.gvma
    hfence.gvma a2
    hfence.gvma a2, a3
    hlv.b   a0, (a1)
    hlv.bu  a0, (a1)
    hlv.h   t0, (t1)
    hlv.hu  t0, (t1)
    hlvx.hu s0, (s1)
    hlv.w   s0, (s1)
    hlvx.wu a2, (a3)
    hsv.b   a0, (a1)
    hsv.h   a2, (a3)
    hsv.w   t0, (t1)
    hlv.w   a0, 0(a1)
    .option push
    .option norvc
    .option norelax
    .option relax
    .option pop
    csrw    mtvec, a0
    mret
