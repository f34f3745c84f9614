"""The cooperative run loop behind the step / run / stop buttons: no threads (Pyodide has none).

A guest runs in bounded chunks (`vm.run(chunk)` returns when the chunk is used up). Between
chunks the runner gives control back to the event loop (`loop.call_soon`), so Jupyter can
deliver a click on "stop" while a guest runs; "stop" only sets a flag the next chunk reads.
This is a plain class: tests drive it without a browser.
"""

import asyncio
import time

CHUNK = 20_000          # guest instructions per chunk: a few ms of simulation


class Runner:
    def __init__(self, vm, chunk=CHUNK, max_instructions=50_000_000, on_chunk=None):
        """`on_chunk(runner)` is called after every chunk and step (refresh the views there)."""
        if type(chunk) is not int or chunk < 1:
            raise ValueError(f"chunk must be a positive integer, not {chunk!r}")
        self.vm, self.chunk, self.max_instructions = vm, chunk, max_instructions
        self.on_chunk = on_chunk
        self.last = None                  # the VmStop of the last chunk or step
        self.running = False
        self.stop_requested = False
        self.started_at = None            # time.perf_counter() when `start` was called
        self.done = None                  # the asyncio Future of the current run

    @property
    def executed(self):
        return self.vm.counters.guest_instructions

    @property
    def finished(self):
        """The guest ended (shutdown, wfi forever, error): no more instructions to run."""
        return self.vm.stop is not None

    def elapsed(self):
        return 0.0 if self.started_at is None else time.perf_counter() - self.started_at

    def step(self, count=1):
        """Run `count` guest instructions (blocks may overshoot under bt); refuse while running."""
        if self.running or self.finished:
            return self.last
        self.last = self.vm.run(count)
        self._notify()
        return self.last

    def run_chunk(self):
        """One bounded chunk; True if the run should go on."""
        left = self.max_instructions - self.executed
        self.last = self.vm.run(min(self.chunk, max(left, 1)))
        self._notify()
        return self.last.reason == "budget" and self.executed < self.max_instructions

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
        loop.call_soon(self._tick, loop)
        return self.done

    def stop(self):
        """Ask a running guest to stop before its next chunk."""
        self.stop_requested = True

    def _tick(self, loop):
        if not self.stop_requested and self.run_chunk():
            loop.call_soon(self._tick, loop)      # yield to the event loop, then go on
            return
        self.running = False
        self._notify()
        if not self.done.done():
            self.done.set_result(self.last)

    def _notify(self):
        if self.on_chunk is not None:
            self.on_chunk(self)
