"""One guest in a notebook: console, CPU view, source view, memory view, step / run / stop /
reset, a speed control and a progress bar, all wired to one VirtualMachine and its runner.

    from vmkit_widgets import VmPanel
    VmPanel("tinyos", engine="hw")          # the last expression of a cell displays it
"""

import ipywidgets as w

from vmkit import lab
from vmkit.vmm.engines import engine_class
from vmkit.vmm.vm import VirtualMachine

from .console import VmConsole
from .cpu import Controls, CpuView, guest_pc
from .memory import MemoryView
from .progress import ProgressBar
from .runner import CHUNK, Runner
from .source import SourceView
from .speed import SpeedControl


class VmPanel:
    def __init__(self, workload="tinyos", engine="hw", iterations=None, chunk=CHUNK,
                 max_instructions=50_000_000):
        self.engine = engine
        self.program = lab.load_program(workload, iterations,
                                        pv=engine_class(engine).needs_pv_build)
        self.console = VmConsole()
        self.vm = self._new_vm()
        self.runner = Runner(self.vm, chunk, max_instructions, on_chunk=self.update)
        self.cpu = CpuView(self.vm)
        self.source = SourceView(self.program)
        self.memory = MemoryView(self.vm, self.program.symbols)
        self.controls = Controls(self.runner, reset=self.reset)
        self.speed = SpeedControl(self.runner)
        self.progress = ProgressBar(self.runner)
        self.update(self.runner)
        self.widget = w.VBox([self.controls.widget, self.speed.widget, self.progress.widget,
                              w.HBox([self.cpu.widget, self.source.widget]),
                              self.memory.widget, self.console.widget])

    def _new_vm(self):
        return VirtualMachine(self.program, engine=self.engine, console=self.console.write)

    def reset(self):
        """Back to the guest's first instruction: a fresh VM from the same program (RAM,
        registers, devices, counters as at power-on), the console cleared. The speed and
        the memory view's address stay as the student set them."""
        self.console.clear()
        self.vm = self._new_vm()
        self.cpu.reset(self.vm)
        self.memory.vm = self.vm
        self.progress.reset()
        self.runner.reset(self.vm)          # ends a run in progress; refreshes every view

    def update(self, runner=None):
        """Refresh every view from the VM (the runner calls this after each tick and step)."""
        self.cpu.refresh()
        self.source.show(guest_pc(self.vm.engine)[0])
        self.memory.refresh()
        self.controls.update()
        self.progress.update()

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
