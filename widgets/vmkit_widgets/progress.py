"""A progress bar for runs longer than about a second, driven by the chunked runner.

It stays hidden for short runs (a bar that flashes for 50 ms is noise) and appears once the
run has taken `after_s` seconds (and stays, full, after it ends); the runner's `on_chunk`
hook calls `update`.
"""

import ipywidgets as w

SHOW_AFTER_S = 1.0


class ProgressBar:
    def __init__(self, runner, after_s=SHOW_AFTER_S):
        self.runner, self.after_s = runner, after_s
        self.bar = w.IntProgress(value=0, min=0, max=runner.max_instructions,
                                 description="running", layout=w.Layout(visibility="hidden"))
        self.widget = self.bar

    @property
    def visible(self):
        return self.bar.layout.visibility == "visible"

    def reset(self):
        """A fresh guest (the panel's reset): empty and hidden."""
        self.bar.value = 0
        self.bar.layout.visibility = "hidden"

    def update(self):
        r = self.runner
        self.bar.value = min(r.executed, self.bar.max)
        if r.running and r.elapsed() >= self.after_s:
            self.bar.layout.visibility = "visible"
        elif r.running:
            self.bar.layout.visibility = "hidden"     # a new run: hidden until it is long

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
