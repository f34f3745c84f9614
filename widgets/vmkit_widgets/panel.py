"""One guest in a notebook: console, CPU view, source view, step / run / stop and progress bar,
all wired to one VirtualMachine and its chunked runner.

    from vmkit_widgets import VmPanel
    VmPanel("tinyos", engine="hw")          # the last expression of a cell displays it
"""

import ipywidgets as w

from vmkit import lab
from vmkit.vmm.vm import VirtualMachine

from .console import VmConsole
from .cpu import Controls, CpuView, guest_pc
from .progress import ProgressBar
from .runner import CHUNK, Runner
from .source import SourceView


class VmPanel:
    def __init__(self, workload="tinyos", engine="hw", iterations=None, chunk=CHUNK,
                 max_instructions=50_000_000):
        self.program = lab.load_program(workload, iterations, pv=(engine == "pv"))
        self.console = VmConsole()
        self.vm = VirtualMachine(self.program, engine=engine, console=self.console.write)
        self.runner = Runner(self.vm, chunk, max_instructions, on_chunk=self.update)
        self.cpu = CpuView(self.vm)
        self.source = SourceView(self.program)
        self.controls = Controls(self.runner)
        self.progress = ProgressBar(self.runner)
        self.update(self.runner)
        self.widget = w.VBox([self.controls.widget, self.progress.widget,
                              w.HBox([self.cpu.widget, self.source.widget]),
                              self.console.widget])

    def update(self, runner=None):
        """Refresh every view from the VM (the runner calls this after each chunk and step)."""
        self.cpu.refresh()
        self.source.show(guest_pc(self.vm.engine)[0])
        self.controls.update()
        self.progress.update()

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
