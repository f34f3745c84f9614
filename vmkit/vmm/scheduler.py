"""The vCPU scheduler: several VMs take turns on the one hart, in budgeted slices (x86: KVM
leaves this to Linux's CFS, whose tasks are the vCPU threads; Xen has its own, the credit
scheduler, which the `credit` policy below follows).

    scheduler = Scheduler(policy="credit", slice=10_000)
    scheduler.add(vm_a, "a", weight=512)               # twice b's share of the hart
    scheduler.add(vm_b, "b", weight=256, cap=50)        # and never more than half of it
    scheduler.run(1_000_000)                            # host time to spend
    scheduler.report()   # per VM: instructions, idle, slices, world switches, how it stopped

Time. Host time counts hart instructions: a slice in which a VM runs n guest instructions
takes n ticks of it. Each VM's guest time is its own (instructions + time skipped in wfi) and
advances only when that VM runs or idles, so it is exactly what it would be alone, whatever
else shares the hart. A VM that waits in wfi for its timer sleeps: the VM has already skipped
its guest time to the deadline (vm.py's `_idle`), and the scheduler keeps it off the hart for
as many ticks of host time. When every VM sleeps, the hart idles until the earliest wakes.
Host utilization = busy ticks / host ticks (the consolidation measurement).

Policies:
* `round_robin`: every runnable VM in turn gets one slice.
* `credit` (Xen credit1): every `period` ticks each VM still running is credited
  period * weight / (sum of weights) ticks; running debits what it used. VMs with credit left
  (UNDER) go first, in turn; when none has credit, VMs in debt (OVER) run: the hart is not
  left idle. `cap` (percent of the hart, per period) is the exception: a VM that used its cap
  waits for the next period even if the hart has nothing else to do. A VM's credit is kept
  within one period's share either way, so a VM that slept does not bank credit.

A VM that stops (shutdown, error, trap storm) leaves the run queue; the others go on. The host
never stops because of a guest. A VM that waits in wfi with no timer armed waits for a device:
it is off the run queue (its stop reads "wfi") until its interrupt line rises (irq.py clears
its stop), and `run` ends when no VM can run or wake. `between_runs`: callables the scheduler
calls between two slices, where input may reach a VM (the virtual switch delivers frames).

What the scheduler needs of a guest (`VirtualMachine` has it): `run(budget)` returning a stop
record whose `reason` is "budget" (slice used up), "idle" (waits for its timer; it has skipped
its guest time already) or anything else (stopped for good); `counters.guest_instructions` and
`counters.idle`. `switch(previous, next)`, given to the scheduler, performs the world switch
(host.py: the hart's context out and in); the scheduler only counts them.
"""

from dataclasses import dataclass, field

POLICIES = ("round_robin", "credit")
DEFAULT_WEIGHT = 256                   # Xen's default domain weight


@dataclass
class Vcpu:
    """One VM's place in the scheduler, and what it got."""
    vm: object
    name: str
    weight: int = DEFAULT_WEIGHT
    cap: int | None = None             # percent of the hart per period; None: no cap
    credit: int = 0                    # ticks (credit policy)
    used: int = 0                      # ticks run in this period (for the cap)
    wake_at: int | None = None         # host time at which a sleeping VM runs again
    stop: object = None                # the stop record once it left the run queue
    instructions: int = 0              # guest instructions run under this scheduler
    idle: int = 0                      # guest time skipped in wfi under this scheduler
    slices: int = 0
    switches: int = 0                  # world switches onto the hart

    @property
    def stopped(self):
        return self.stop is not None

    def as_dict(self):
        return {"name": self.name, "weight": self.weight, "cap": self.cap,
                "instructions": self.instructions, "idle": self.idle, "slices": self.slices,
                "switches": self.switches,
                "stop": None if self.stop is None else self.stop.reason,
                "message": "" if self.stop is None else self.stop.message}


@dataclass
class Scheduler:
    policy: str = "round_robin"
    slice: int = 10_000                # longest slice, in host ticks
    period: int | None = None          # credit accounting period (default: 3 slices per VM)
    switch: object = None              # callable(previous Vcpu or None, next Vcpu)
    between_runs: list = field(default_factory=list)   # callables, run between slices
    vcpus: list = field(default_factory=list)
    now: int = 0                       # host time
    busy: int = 0                      # host ticks spent running guests
    world_switches: int = 0
    current: Vcpu | None = None        # whose context is on the hart
    _turn: int = 0                     # round-robin position
    _period_end: int = 0

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"unknown scheduling policy {self.policy!r}; "
                             f"choose one of {', '.join(POLICIES)}")
        _positive("slice", self.slice)
        if self.period is not None:
            _positive("period", self.period)

    def add(self, vm, name, weight=DEFAULT_WEIGHT, cap=None):
        """Put `vm` on the run queue (`weight`, `cap`: credit policy; see the docstring)."""
        _positive("weight", weight)
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool)
                                or not 1 <= cap <= 100):
            raise ValueError(f"cap must be a percentage from 1 to 100 (or None), not {cap!r}")
        if any(v.name == name for v in self.vcpus):
            raise ValueError(f"a VM named {name!r} is already scheduled")
        vcpu = Vcpu(vm, name, weight, cap)
        self.vcpus.append(vcpu)
        return vcpu

    # -- the loop ---------------------------------------------------------------------------
    def run(self, host_ticks):
        """Run the VMs for `host_ticks` more ticks of host time, or until every VM stopped.
        Returns the host time reached."""
        _positive("host_ticks", host_ticks)
        end = self.now + host_ticks
        while self.now < end:
            for hook in self.between_runs:
                hook()
            if not self._wake():
                break
            self._account()
            vcpu = self._pick()
            if vcpu is None:           # nobody may run: idle to the next wake-up or period
                self.now = min(end, self._next_event())
                continue
            self._run_slice(vcpu, min(self.slice, end - self.now, self._allowance(vcpu)))
        return self.now

    def live(self):
        return [v for v in self.vcpus if not v.stopped]

    def _wake(self):
        """Put back on the run queue a VM that waited in wfi for a device whose line has
        risen since (its VM's stop is cleared); returns the VMs now live."""
        for vcpu in self.vcpus:
            if vcpu.stop is not None and vcpu.stop.reason == "wfi" and vcpu.vm.stop is None:
                vcpu.stop = None
        return self.live()

    def _run_slice(self, vcpu, budget):
        if self.current is not vcpu:
            if self.switch is not None:
                self.switch(self.current, vcpu)
            self.current = vcpu
            vcpu.switches += 1
            self.world_switches += 1
        counters = vcpu.vm.counters
        ran, idle = counters.guest_instructions, counters.idle
        stop = vcpu.vm.run(budget)
        ran, idle = counters.guest_instructions - ran, counters.idle - idle
        vcpu.instructions += ran
        vcpu.idle += idle
        vcpu.slices += 1
        # A slice that ran nothing still took the VMM some work: one tick, so host time
        # moves on whatever a guest does, and `run` ends.
        cost = max(ran, 1)
        vcpu.used += cost
        vcpu.credit -= cost
        self.now += cost
        self.busy += cost
        if stop.reason == "idle":
            vcpu.wake_at = self.now + idle
        elif stop.reason != "budget":
            vcpu.stop = stop           # off the run queue for good; the others go on

    # -- choosing -----------------------------------------------------------------------------
    def _runnable(self, vcpu):
        if vcpu.stopped:
            return False
        if vcpu.wake_at is not None:
            if vcpu.wake_at > self.now:
                return False
            vcpu.wake_at = None
        return not (self.policy == "credit" and vcpu.cap is not None
                    and vcpu.used >= self._cap_ticks(vcpu))

    def _pick(self):
        """The next VM to run, in turn from the last one: under `credit`, one with credit left
        if there is one."""
        count = len(self.vcpus)
        order = [self.vcpus[(self._turn + i) % count] for i in range(count)]
        ready = [v for v in order if self._runnable(v)]
        if self.policy == "credit":
            ready = [v for v in ready if v.credit > 0] or ready
        if not ready:
            return None
        self._turn = (self.vcpus.index(ready[0]) + 1) % count
        return ready[0]

    def _allowance(self, vcpu):
        """Most ticks this VM may run now: its cap's remainder (credit policy)."""
        if self.policy != "credit" or vcpu.cap is None:
            return self.slice
        return max(1, self._cap_ticks(vcpu) - vcpu.used)

    def _next_event(self):
        wakes = [v.wake_at for v in self.vcpus if not v.stopped and v.wake_at is not None]
        if self.policy == "credit":
            wakes.append(self._period_end)
        return max(self.now + 1, min(wakes, default=self.now + 1))

    # -- credit accounting ----------------------------------------------------------------------
    def _period_length(self):
        return self.period or 3 * self.slice * max(1, len(self.live()))

    def _cap_ticks(self, vcpu):
        return self._period_length() * vcpu.cap // 100

    def _account(self):
        """At each period boundary: refill credits by weight, reset what each VM used."""
        if self.policy != "credit" or self.now < self._period_end:
            return
        length = self._period_length()
        live = self.live()
        total = sum(v.weight for v in live)
        for vcpu in live:
            share = length * vcpu.weight // total
            vcpu.credit = max(-share, min(share, vcpu.credit + share))
            vcpu.used = 0
        self._period_end = self.now + length

    # -- results --------------------------------------------------------------------------------
    @property
    def utilization(self):
        """Busy host time / host time (0 before anything ran)."""
        return self.busy / self.now if self.now else 0.0

    def report(self):
        return {"host_time": self.now, "busy": self.busy, "idle": self.now - self.busy,
                "utilization": self.utilization, "world_switches": self.world_switches,
                "vms": [v.as_dict() for v in self.vcpus]}


def _positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
