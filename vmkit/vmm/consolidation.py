"""Server consolidation: many mostly idle guests on one host instead of one host each (the
lecture's first argument for virtualization; x86: VMware's P2V consolidation ratios).

A typical server waits: for a request, for its timer. `idle_guest` is such a guest: every
`interval` ticks of its time it wakes, works `work` instructions, and sleeps again in wfi. Alone
on a host it keeps the hart busy only work/interval of the time; the rest is idle hardware.
`measure(n)` runs n of them one host each and then all on one host (vmkit/vmm/scheduler.py
gives each the hart while the others sleep), and reports the host utilization both ways:

    >>> row = measure(4, engine="hw")
    >>> row["alone"]["utilization"], row["consolidated"]["utilization"]   # about 0.1 and 0.4

Each guest's own run is the same both ways (its guest time is its own): consolidation changes
only when, in host time, its work happens. `sweep` gives the rows for a plot.
"""

from vmkit.asm import assemble

from .host import Host, host_ram

IDLE_GUEST = """
        .equ    SBI_TIME, 0x54494D45
        .equ    SBI_SRST, 0x53525354
        .equ    STIE, 1 << 5
        .text
        .globl  _start
_start: li      t0, STIE
        csrs    sie, t0                # the timer may wake wfi (sstatus.SIE stays off:
        li      s0, PERIODS            # no trap is taken, wfi simply returns)
period: li      t1, WORK
1:      addi    t1, t1, -1             # the work: 2 instructions a trip
        bnez    t1, 1b
        rdtime  a0                     # sleep until INTERVAL ticks from now
        li      t0, INTERVAL
        add     a0, a0, t0
        li      a1, 0
        li      a7, SBI_TIME
        li      a6, 0
        ecall
2:      wfi
        csrr    t0, sip
        andi    t0, t0, STIE
        beqz    t0, 2b
        addi    s0, s0, -1
        bnez    s0, period
        li      a0, 0                  # done: power off
        li      a1, 0
        li      a7, SBI_SRST
        li      a6, 0
        ecall
"""


def idle_guest(work=500, interval=10_000, periods=20):
    """The program: `periods` times, 2 * work instructions then sleep to `interval` ticks."""
    for name, value in (("work", work), ("interval", interval), ("periods", periods)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 1 << 20:
            raise ValueError(f"{name} must be an integer from 1 to {(1 << 20) - 1}, "
                             f"not {value!r}")
    header = f".equ WORK, {work}\n.equ INTERVAL, {interval}\n.equ PERIODS, {periods}\n"
    return assemble(header + IDLE_GUEST, "idle_guest.s")


def run_host(count, program, engine="hw", policy="round_robin", slice=10_000, fast=True):
    """`count` copies of `program` on one host, run until all stop; the host's report."""
    host = Host(ram_size=host_ram(count), fast=fast, policy=policy, slice=slice)
    for index in range(count):
        host.create_vm(program, engine=engine, name=f"guest{index}")
    report = host.run(1 << 40)          # until every guest has stopped (they all do)
    stopped = [vm["stop"] for vm in report["vms"]]
    if stopped != ["shutdown"] * count:
        raise RuntimeError(f"a guest did not finish: {stopped}")
    return report


def measure(count, engine="hw", work=500, interval=10_000, periods=20, policy="round_robin"):
    """Host utilization of `count` idle guests, one host each ("alone") and all on one host
    ("consolidated"): {"guests", "engine", "alone": {...}, "consolidated": {...}}, each with
    host_time, busy (ticks) and utilization (busy / host time); "hosts" is how many hosts."""
    program = idle_guest(work, interval, periods)
    one = run_host(1, program, engine)  # identical guests: every host of one looks the same
    together = run_host(count, program, engine, policy)
    return {"guests": count, "engine": engine,
            "alone": {"hosts": count, "host_time": one["host_time"],
                      "busy": count * one["busy"], "utilization": one["utilization"]},
            "consolidated": {"hosts": 1, "host_time": together["host_time"],
                             "busy": together["busy"],
                             "utilization": together["utilization"],
                             "world_switches": together["hart_switches"]}}


def sweep(counts=(1, 2, 4, 8), engine="hw", **options):
    """`measure` for each guest count: rows for a utilization plot."""
    return [measure(count, engine, **options) for count in counts]
