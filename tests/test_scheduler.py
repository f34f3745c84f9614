"""The vCPU scheduler (vmkit/vmm/scheduler.py) on scripted guests: round robin, credit shares
and caps, sleeping VMs, VMs that stop, world-switch counts, host utilization."""

from types import SimpleNamespace

import pytest

from vmkit.vmm.scheduler import Scheduler


class Guest:
    """A scripted VM: runs `burst` instructions, then sleeps `sleep` ticks (0: never sleeps);
    stops with `stop_after` instructions run (None: never)."""

    def __init__(self, burst=None, sleep=0, stop_after=None, reason="shutdown"):
        self.counters = SimpleNamespace(guest_instructions=0, idle=0)
        self.burst, self.sleep, self.stop_after, self.reason = burst, sleep, stop_after, reason
        self.left = burst
        self.budgets = []

    def run(self, budget):
        self.budgets.append(budget)
        n = budget if self.left is None else min(budget, self.left)
        if self.stop_after is not None:
            n = min(n, self.stop_after - self.counters.guest_instructions)
        self.counters.guest_instructions += n
        if self.stop_after is not None and self.counters.guest_instructions >= self.stop_after:
            return SimpleNamespace(reason=self.reason, message="stopped")
        if self.left is not None:
            self.left -= n
            if self.left == 0:
                self.left = self.burst
                self.counters.idle += self.sleep
                return SimpleNamespace(reason="idle", message="")
        return SimpleNamespace(reason="budget", message="")


def test_round_robin_takes_turns_in_equal_slices():
    switches = []
    scheduler = Scheduler(slice=100, switch=lambda a, b: switches.append(
        (a and a.name, b.name)))
    guests = [Guest() for _ in range(3)]
    for i, guest in enumerate(guests):
        scheduler.add(guest, f"vm{i}")
    assert scheduler.run(3000) == 3000
    assert [g.counters.guest_instructions for g in guests] == [1000] * 3
    assert switches[:4] == [(None, "vm0"), ("vm0", "vm1"), ("vm1", "vm2"), ("vm2", "vm0")]
    assert scheduler.world_switches == 30 and scheduler.utilization == 1.0


def test_one_vm_alone_is_never_switched_out():
    scheduler = Scheduler(slice=100)
    scheduler.add(Guest(), "only")
    scheduler.run(10_000)
    assert scheduler.world_switches == 1 and scheduler.vcpus[0].slices == 100


@pytest.mark.parametrize("weights", [(512, 256), (256, 768), (300, 100, 200)])
def test_credit_shares_follow_the_weights(weights):
    scheduler = Scheduler(policy="credit", slice=100)
    guests = [Guest() for _ in weights]
    for i, (guest, weight) in enumerate(zip(guests, weights)):
        scheduler.add(guest, f"vm{i}", weight=weight)
    scheduler.run(300_000)
    got = [g.counters.guest_instructions for g in guests]
    for share, weight in zip(got, weights):
        assert share / sum(got) == pytest.approx(weight / sum(weights), rel=0.05)


def test_credit_cap_leaves_the_hart_idle():
    scheduler = Scheduler(policy="credit", slice=100)
    guest = Guest()
    scheduler.add(guest, "capped", cap=25)
    scheduler.run(100_000)
    assert guest.counters.guest_instructions == pytest.approx(25_000, rel=0.05)
    assert scheduler.utilization == pytest.approx(0.25, rel=0.05)


def test_without_cap_a_light_vm_leaves_its_share_to_a_busy_one():
    # Work conserving: the sleeper's unused credit does not keep the hart idle.
    scheduler = Scheduler(policy="credit", slice=100)
    busy, sleeper = Guest(), Guest(burst=50, sleep=5000)
    scheduler.add(busy, "busy")
    scheduler.add(sleeper, "sleeper", weight=10_000)
    scheduler.run(100_000)
    assert scheduler.utilization == 1.0
    assert busy.counters.guest_instructions > 95_000


def test_sleeping_vms_take_no_slices_and_the_host_idles_to_the_earliest_wake():
    scheduler = Scheduler(slice=1000)
    a, b = Guest(burst=100, sleep=900), Guest(burst=100, sleep=1900)
    scheduler.add(a, "a")
    scheduler.add(b, "b")
    scheduler.run(20_000)
    # a: 100 busy per 1000 ticks, b: 100 per 2000 -> 15% of the host busy.
    assert scheduler.busy / scheduler.now == pytest.approx(0.15, rel=0.05)
    assert scheduler.utilization == pytest.approx(0.15, rel=0.05)
    assert a.counters.idle // 900 == a.counters.guest_instructions // 100
    # Every slice a VM got, it used: it was never run while asleep.
    assert all(budget >= 100 for budget in a.budgets[:-1])


def test_a_stopped_vm_leaves_the_queue_and_the_others_go_on():
    scheduler = Scheduler(slice=100)
    halts, error, runs = Guest(stop_after=250), Guest(stop_after=10, reason="error"), Guest()
    for name, guest in (("halts", halts), ("error", error), ("runs", runs)):
        scheduler.add(guest, name)
    scheduler.run(10_000)
    report = {v["name"]: v for v in scheduler.report()["vms"]}
    assert report["halts"]["stop"] == "shutdown" and report["halts"]["instructions"] == 250
    assert report["error"]["stop"] == "error" and report["error"]["instructions"] == 10
    assert report["runs"]["stop"] is None and report["runs"]["instructions"] == 10_000 - 260
    assert scheduler.run(500) == 10_500          # the host goes on


def test_a_guest_that_makes_no_progress_cannot_hang_the_host():
    scheduler = Scheduler(slice=100)
    stuck = Guest(burst=0, sleep=0)        # returns "idle" at once, for ever
    stuck.left = 0
    stuck.run = lambda budget: SimpleNamespace(reason="idle", message="")
    scheduler.add(stuck, "stuck")
    assert scheduler.run(1000) == 1000


def test_every_vm_stopped_ends_the_run():
    scheduler = Scheduler(slice=100)
    scheduler.add(Guest(stop_after=150), "a")
    assert scheduler.run(10_000) == 150 and not scheduler.live()


@pytest.mark.parametrize("kwargs, message", [
    ({"policy": "fifo"}, "unknown scheduling policy"), ({"slice": 0}, "slice"),
    ({"period": -5}, "period")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Scheduler(**kwargs)


def test_bad_vm_settings_are_refused():
    scheduler = Scheduler()
    scheduler.add(Guest(), "a")
    for kwargs, message in (({"name": "a"}, "already"), ({"name": "b", "weight": 0}, "weight"),
                            ({"name": "b", "cap": 101}, "cap"), ({"name": "b", "cap": True},
                                                                 "cap")):
        with pytest.raises(ValueError, match=message):
            scheduler.add(Guest(), **kwargs)
