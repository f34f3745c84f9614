"""The cooperative run loop behind the step / run / stop / reset buttons: no threads (Pyodide
has none).

A guest runs in bounded ticks (`vm.run(chunk)` returns when the chunk is used up). Between
ticks the runner gives control back to the event loop (`loop.call_soon`, or `call_later` when
the run is paced), so Jupyter can deliver a click on "stop" while a guest runs; "stop" only
sets a flag the next tick reads. Pacing is how a student watches a run: a few instructions
per tick and a pause between ticks, the views refreshed after each one. This is a plain
class: tests drive it without a browser.
"""

import asyncio
import time

CHUNK = 20_000          # guest instructions per tick at full speed: a few ms of simulation
TICK_S = 0.1            # the pause between paced ticks: ten view refreshes a second


class Runner:
    def __init__(self, vm, chunk=CHUNK, max_instructions=50_000_000, on_chunk=None):
        """`on_chunk(runner)` is called after every tick and step (refresh the views there)."""
        self.vm, self.max_instructions = vm, max_instructions
        self.full_speed = self.chunk = _positive(chunk, "chunk")
        self.tick_s = 0.0                 # pause between ticks; 0: as fast as the loop allows
        self.on_chunk = on_chunk
        self.last = None                  # the VmStop of the last tick or step
        self.running = False
        self.stop_requested = False
        self.started_at = None            # time.perf_counter() when `start` was called
        self.done = None                  # the asyncio Future of the current run
        self._pending = None              # the event loop's handle of the next tick

    @property
    def executed(self):
        return self.vm.counters.guest_instructions

    @property
    def finished(self):
        """The guest ended (shutdown, wfi forever, error): no more instructions to run."""
        return self.vm.stop is not None

    @property
    def at_limit(self):
        return self.executed >= self.max_instructions

    def elapsed(self):
        return 0.0 if self.started_at is None else time.perf_counter() - self.started_at

    def set_speed(self, per_tick):
        """Run `per_tick` instructions per tick: full speed (the constructor's chunk) runs
        tick after tick; anything slower pauses TICK_S between ticks so the views can be
        read. Takes effect at the next tick, also during a run."""
        self.chunk = min(_positive(per_tick, "instructions per tick"), self.full_speed)
        self.tick_s = 0.0 if self.chunk == self.full_speed else TICK_S

    def step(self, count=1):
        """Run `count` guest instructions (blocks may overshoot under bt); refuse while running."""
        if self.running or self.finished:
            return self.last
        self.last = self.vm.run(count)
        self._notify()
        return self.last

    def run_chunk(self):
        """One bounded tick; True if the run should go on."""
        left = self.max_instructions - self.executed
        self.last = self.vm.run(min(self.chunk, max(left, 1)))
        self._notify()
        return self.last.reason == "budget" and not self.at_limit

    def start(self, loop=None):
        """Begin a cooperative run on `loop` (default: the running one, as in Jupyter).
        Returns a Future that resolves to the last VmStop when the run ends or is stopped."""
        loop = loop or asyncio.get_event_loop()
        if self.running:
            return self.done
        self.done = loop.create_future()
        if self.finished:
            self.done.set_result(self.vm.stop)
            return self.done
        self.running, self.stop_requested = True, False
        self.started_at = time.perf_counter()
        self._schedule(loop)
        return self.done

    def stop(self):
        """Ask a running guest to stop before its next tick."""
        self.stop_requested = True

    def reset(self, vm):
        """Drop the current guest (ending its run now) and drive `vm`, a fresh one, instead."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self.running = False
        if self.done is not None and not self.done.done():
            self.done.set_result(self.last)
        self.vm, self.last, self.stop_requested, self.started_at = vm, None, False, None
        self._notify()

    def _schedule(self, loop):
        if self.tick_s:
            self._pending = loop.call_later(self.tick_s, self._tick, loop)
        else:
            self._pending = loop.call_soon(self._tick, loop)

    def _tick(self, loop):
        self._pending = None
        go_on = not self.stop_requested and self.run_chunk()
        if not self.running:                  # reset from a view's refresh during the tick
            return
        if go_on:
            self._schedule(loop)              # yield to the event loop, then go on
            return
        self.running = False
        self._notify()
        if not self.done.done():
            self.done.set_result(self.last)

    def _notify(self):
        if self.on_chunk is not None:
            self.on_chunk(self)


def _positive(count, what):
    if type(count) is not int or count < 1:
        raise ValueError(f"{what} must be a positive integer, not {count!r}")
    return count
