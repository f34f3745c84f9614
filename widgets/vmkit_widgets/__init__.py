"""vmkit_widgets: the workbook's Jupyter layer over vmkit (ipywidgets + Bokeh).

The core (`vmkit`) never imports this package. Nothing here uses threads or subprocesses, so
it also runs in JupyterLite (Pyodide): a running guest yields to the event loop between
bounded chunks instead (runner.py).

    VmConsole            the guest's serial console, as it arrives        console.py
    CpuView, Controls    registers, mode, CSRs; step / run / stop         cpu.py
    SourceView           the current guest source line                     source.py
    TranslationView      a bt block beside its translation                 tc.py
    TechniqueComparison  cycles by category and exits by reason, per engine compare.py
    ProgressBar          for runs longer than about a second               progress.py
    Runner               the cooperative chunked run loop (no widgets)     runner.py
    VmPanel              all of the above for one guest                    panel.py
"""

from .compare import TechniqueComparison
from .console import VmConsole
from .cpu import Controls, CpuView
from .panel import VmPanel
from .progress import ProgressBar
from .runner import Runner
from .source import SourceView
from .tc import TranslationView

__all__ = ["Controls", "CpuView", "ProgressBar", "Runner", "SourceView", "TechniqueComparison",
           "TranslationView", "VmConsole", "VmPanel"]
