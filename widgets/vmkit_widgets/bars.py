"""Grouped bars: one measured number per (group, series), e.g. estimated cycles per
microbenchmark (group) and paging technique (series); notebook 06's memory plots.

    GroupedBars({("pagefault", "native"): 423256, ...}, title="...", label="estimated cycles")

Groups and series keep the order in which they first appear in `values`. Every bar is a value
given: nothing is fitted or computed here.
"""

from bokeh.models import ColumnDataSource, FactorRange, NumeralTickFormatter
from bokeh.palettes import Category10
from bokeh.plotting import figure
from bokeh.transform import factor_cmap
from jupyter_bokeh import BokehModel

from .compare import load_bokehjs


class GroupedBars:
    def __init__(self, values, title, label, width=760):
        """`values`: {(group, series): number}."""
        if not values:
            raise ValueError("nothing to plot: give {(group, series): value, ...}")
        keys = list(values)
        self.series = list(dict.fromkeys(series for _, series in keys))
        if len(self.series) > 10:
            raise ValueError(f"at most 10 series (colours), got {len(self.series)}")
        self.source = ColumnDataSource({"x": keys, "value": [values[k] for k in keys],
                                        "series": [series for _, series in keys]})
        fig = figure(x_range=FactorRange(*keys), height=320, width=width, title=title,
                     toolbar_location=None, tools="hover",
                     tooltips=[("", "@x"), (label, "@value{0,0}")])
        fig.vbar(x="x", top="value", width=0.85, source=self.source, legend_field="series",
                 fill_color=factor_cmap("x", Category10[10], self.series, start=1, end=2),
                 line_color=None)
        fig.xaxis.major_label_text_font_size = "0pt"     # the legend names the series
        fig.yaxis.axis_label = label
        fig.yaxis.formatter = NumeralTickFormatter(format="0,0")
        fig.y_range.start = 0
        fig.legend.location = "top_left"
        fig.add_layout(fig.legend[0], "right")
        self.figure = fig
        self.widget = BokehModel(fig)

    def _ipython_display_(self):
        from IPython.display import display
        load_bokehjs()
        display(self.widget)
