"""vmkit_widgets: the workbook's Jupyter layer over vmkit (ipywidgets + Bokeh).

The core (`vmkit`) never imports this package. Nothing here uses threads or subprocesses, so
it also runs in JupyterLite (Pyodide): a running guest yields to the event loop between
bounded chunks instead (runner.py).

    VmConsole            the guest's serial console, as it arrives        console.py
    CpuView, Controls    registers, mode, CSRs; step / run / stop / reset cpu.py
    SpeedControl         instructions per tick, to watch a run             speed.py
    MemoryView           guest memory around an address, pc or a symbol    memory.py
    SourceView           the current guest source line                     source.py
    TranslationView      a bt block beside its translation                 tc.py
    PageWalk             one guest load's page walk, step by step          pagewalk.py
    SnapshotPanel        save, change, restore a VM; now against saved     snapshot.py
    TechniqueComparison  cycles by category and exits by reason, per engine compare.py
    UtilizationPlot      host utilization, N guests alone vs consolidated  utilization.py
    GroupedBars          one measured number per (group, series)           bars.py
    ProgressBar          for runs longer than about a second               progress.py
    Runner               the cooperative chunked run loop (no widgets)     runner.py
    VmPanel              all of the above for one guest                    panel.py

TechniqueComparison, UtilizationPlot and GroupedBars are imported on first use: they are the only parts
that need Bokeh, whose import costs seconds in the browser (Pyodide), so a notebook that only
shows a VmPanel never pays it.
"""

from .console import VmConsole
from .cpu import Controls, CpuView
from .memory import MemoryView
from .pagewalk import PageWalk
from .panel import VmPanel
from .progress import ProgressBar
from .runner import Runner
from .snapshot import SnapshotPanel
from .source import SourceView
from .speed import SpeedControl
from .tc import TranslationView

__all__ = ["Controls", "CpuView", "GroupedBars", "MemoryView", "PageWalk", "ProgressBar",
           "Runner", "SnapshotPanel", "SourceView", "SpeedControl", "TechniqueComparison",
           "TranslationView", "UtilizationPlot", "VmConsole", "VmPanel"]
LAZY = {"TechniqueComparison": "compare", "UtilizationPlot": "utilization",   # need Bokeh
        "GroupedBars": "bars"}


def __getattr__(name):
    """Lazy attributes of the package (PEP 562): the Bokeh plots, and Bokeh with them."""
    if name in LAZY:
        from importlib import import_module
        return getattr(import_module(f".{LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
