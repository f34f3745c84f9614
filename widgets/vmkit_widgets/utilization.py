"""The consolidation plot: host utilization against the number of idle-heavy guests, one host
each and all on one host (the rows of vmkit.vmm.consolidation.sweep; x86: the consolidation
ratio that made VMware's P2V worth doing).

    UtilizationPlot(sweep(range(1, 9)))

Every point is a measured row: nothing is fitted or drawn by formula.
"""

from bokeh.models import ColumnDataSource, NumeralTickFormatter
from bokeh.plotting import figure
from jupyter_bokeh import BokehModel

from .compare import load_bokehjs

WAYS = (("alone", "one host per guest", "#1f77b4"),
        ("consolidated", "all guests on one host", "#d62728"))


class UtilizationPlot:
    def __init__(self, rows):
        """`rows`: consolidation.measure's dicts, one per guest count."""
        if not rows:
            raise ValueError("nothing to plot: give the rows of consolidation.sweep")
        counts = [row["guests"] for row in rows]
        if len(set(counts)) != len(counts):
            raise ValueError(f"one row per guest count, please: got {counts}")
        self.source = ColumnDataSource(
            {"guests": counts, **{way: [row[way]["utilization"] for row in rows]
                                  for way, _, _ in WAYS}})
        fig = figure(height=300, width=640, toolbar_location=None, tools="hover",
                     title=f"host utilization, {rows[0]['engine']} guests that mostly sleep",
                     tooltips=[("guests", "@guests"), ("", "$name: @$name{0%}")])
        for way, label, color in WAYS:
            fig.line("guests", way, source=self.source, color=color, legend_label=label,
                     line_width=2, name=way)
            fig.scatter("guests", way, source=self.source, color=color, size=7, name=way)
        fig.xaxis.axis_label = "guests"
        fig.yaxis.axis_label = "busy host time / host time"
        fig.yaxis.formatter = NumeralTickFormatter(format="0%")
        fig.y_range.start, fig.y_range.end = 0, 1
        fig.legend.location = "top_left"
        self.figure = fig
        self.widget = BokehModel(fig)

    def _ipython_display_(self):
        from IPython.display import display
        load_bokehjs()
        display(self.widget)
