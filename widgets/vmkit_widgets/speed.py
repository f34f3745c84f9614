"""The speed control: how many guest instructions run between two refreshes of the views.

At full speed the runner runs tick after tick (a tick is `CHUNK` instructions, a few ms).
Slower settings run fewer instructions per tick and pause between ticks (runner.TICK_S), so
a student can watch the registers, the source line and the console follow the guest.
"""

import ipywidgets as w

SPEEDS = (1, 10, 100, 1_000)       # instructions per tick below full speed


class SpeedControl:
    def __init__(self, runner):
        self.runner = runner
        full = runner.full_speed
        options = [(f"{n:,}", n) for n in SPEEDS if n < full] + [("full", full)]
        self.slider = w.SelectionSlider(
            options=options, value=full, description="speed",
            tooltip="guest instructions per tick: the views refresh after every tick")
        self.label = w.Label()
        self.slider.observe(lambda change: self.set(change["new"]), names="value")
        self.widget = w.HBox([self.slider, self.label])
        self.set(full)

    def set(self, per_tick):
        """What moving the slider does; also takes effect in the middle of a run."""
        r = self.runner
        r.set_speed(per_tick)
        if r.tick_s:
            plural = "s" if r.chunk > 1 else ""
            self.label.value = (f"{r.chunk:,} instruction{plural} per tick, "
                                f"{1 / r.tick_s:.0f} ticks a second")
        else:
            self.label.value = f"full speed: {r.chunk:,} instructions per tick, no pause"

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
