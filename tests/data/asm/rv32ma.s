# M and A extensions: every multiply/divide and every AMO in all four orderings.
    .text
    mul     a0, a1, a2
    mulh    a3, a4, a5
    mulhsu  t0, t1, t2
    mulhu   s0, s1, s2
    div     x1, x2, x3
    divu    x4, x5, x6
    rem     x7, x8, x9
    remu    x30, x31, x0
    lr.w    a0, (a1)
    sc.w    a2, a3, (a4)
    amoswap.w  t0, t1, (sp)
    amoadd.w  t0, t1, (sp)
    amoxor.w  t0, t1, (sp)
    amoand.w  t0, t1, (sp)
    amoor.w  t0, t1, (sp)
    amomin.w  t0, t1, (sp)
    amomax.w  t0, t1, (sp)
    amominu.w  t0, t1, (sp)
    amomaxu.w  t0, t1, (sp)
    lr.w.aq    a0, (a1)
    sc.w.aq    a2, a3, (a4)
    amoswap.w.aq  t0, t1, (sp)
    amoadd.w.aq  t0, t1, (sp)
    amoxor.w.aq  t0, t1, (sp)
    amoand.w.aq  t0, t1, (sp)
    amoor.w.aq  t0, t1, (sp)
    amomin.w.aq  t0, t1, (sp)
    amomax.w.aq  t0, t1, (sp)
    amominu.w.aq  t0, t1, (sp)
    amomaxu.w.aq  t0, t1, (sp)
    lr.w.rl    a0, (a1)
    sc.w.rl    a2, a3, (a4)
    amoswap.w.rl  t0, t1, (sp)
    amoadd.w.rl  t0, t1, (sp)
    amoxor.w.rl  t0, t1, (sp)
    amoand.w.rl  t0, t1, (sp)
    amoor.w.rl  t0, t1, (sp)
    amomin.w.rl  t0, t1, (sp)
    amomax.w.rl  t0, t1, (sp)
    amominu.w.rl  t0, t1, (sp)
    amomaxu.w.rl  t0, t1, (sp)
    lr.w.aqrl    a0, (a1)
    sc.w.aqrl    a2, a3, (a4)
    amoswap.w.aqrl  t0, t1, (sp)
    amoadd.w.aqrl  t0, t1, (sp)
    amoxor.w.aqrl  t0, t1, (sp)
    amoand.w.aqrl  t0, t1, (sp)
    amoor.w.aqrl  t0, t1, (sp)
    amomin.w.aqrl  t0, t1, (sp)
    amomax.w.aqrl  t0, t1, (sp)
    amominu.w.aqrl  t0, t1, (sp)
    amomaxu.w.aqrl  t0, t1, (sp)
    lr.w    a0, 0(a1)                 # GNU accepts an explicit zero offset
    amoadd.w a0, a1, 0(a2)
