"""The technique comparison: estimated cycles by cost category per engine (stacked bars), and
VM exits by reason per engine, with the cost-model preset selectable.

Changing the preset re-prices the SAME counted rows (`cost_model(name).estimate` on each row's
counters): nothing is rerun, because the counts are facts about the run and only their prices
are assumptions. The plots update live: their ColumnDataSources change in place and
jupyter_bokeh's `BokehModel` syncs them to the browser.
"""

import ipywidgets as w
from bokeh.io import output_notebook
from bokeh.layouts import column
from bokeh.models import ColumnDataSource
from bokeh.palettes import Category10, Category20
from bokeh.plotting import figure
from bokeh.resources import Resources
from jupyter_bokeh import BokehModel

from vmkit.lab import price
from vmkit.vmm.costs import PRESETS, REFUSED, RunResult, cost_model

_bokehjs_loaded = False


def load_bokehjs():
    """Put BokehJS on the page, once per kernel. BokehModel's front end draws with the page's
    BokehJS (window.Bokeh) but does not load it. Inline, not from a CDN: the plots then also
    render offline (JupyterLite). Only the components these plots use (1.5 MB, not 3.9)."""
    global _bokehjs_loaded
    if not _bokehjs_loaded:
        output_notebook(Resources(mode="inline", components=["bokeh", "bokeh-gl"]),
                        hide_banner=True)
        _bokehjs_loaded = True


class TechniqueComparison:
    def __init__(self, rows, preset="modern"):
        """`rows`: lab.compare's RunResults (or their `to_dict()` rows), one per engine."""
        self.rows = [r if isinstance(r, RunResult) else RunResult.from_dict(r) for r in rows]
        # A run the engine refused (it does not virtualize guest paging) has no cycles: its
        # bar stays empty and its label says why, so it never looks like a cheap run.
        self.engines = [f"{r.engine}: {REFUSED}" if r.paging_refused else r.engine
                        for r in self.rows]
        if not self.rows:
            raise ValueError("nothing to compare: give at least one row from lab.compare")
        if len(set(self.engines)) != len(self.engines):
            raise ValueError(f"one row per engine, please: got {', '.join(self.engines)}")
        model = cost_model(preset)                  # CostError for an unknown preset
        self.categories = list(model.estimate({}))  # the cost model's category order
        self.cycles_source = ColumnDataSource(self._cycles(model))
        self.reasons = sorted({reason for r in self.rows for reason in r.counters.get("exits",
                                                                                      {})})
        self.exits_source = ColumnDataSource(
            {"engine": self.engines,
             **{reason: [r.counters.get("exits", {}).get(reason, 0) for r in self.rows]
                for reason in self.reasons}})
        self.cycles_figure = self._stacked(self.cycles_source, self.categories,
                                           Category10[10], "estimated cycles", "")
        self.exits_figure = self._stacked(self.exits_source, self.reasons, Category20[20],
                                          "exits", "VM exits (traps into the VMM) by reason")
        self._title(preset)
        self.preset = w.Dropdown(options=list(PRESETS), value=preset, description="cost model")
        self.preset.observe(lambda change: self.reprice(change["new"]), names="value")
        self.widget = w.VBox([self.preset,
                              BokehModel(column(self.cycles_figure, self.exits_figure))])

    def _cycles(self, model):
        """Column data: engine plus one column per cost category."""
        priced = [dict.fromkeys(self.categories, 0) if r.paging_refused else
                  price(r.engine, r.counters, model) for r in self.rows]
        return {"engine": self.engines,
                **{category: [p[category] for p in priced] for category in self.categories}}

    def reprice(self, preset):
        """Recompute the cycles of the same rows under another cost-model preset."""
        self.cycles_source.data = self._cycles(cost_model(preset))
        self._title(preset)

    def _title(self, preset):
        self.cycles_figure.title.text = f"estimated cycles by category (cost model {preset!r})"

    def _stacked(self, source, stack, palette, label, title):
        fig = figure(x_range=self.engines, height=300, width=640, title=title,
                     toolbar_location=None, tools="hover",
                     tooltips=[("engine", "@engine"), ("", "$name: @$name")])
        if stack:
            fig.vbar_stack(stack, x="engine", width=0.7, source=source,
                           color=[palette[i % len(palette)] for i in range(len(stack))],
                           legend_label=stack)
            fig.legend.location = "top_left"
            fig.add_layout(fig.legend[0], "right")
        fig.yaxis.axis_label = label
        fig.y_range.start = 0
        return fig

    def _ipython_display_(self):
        from IPython.display import display
        load_bokehjs()
        display(self.widget)
