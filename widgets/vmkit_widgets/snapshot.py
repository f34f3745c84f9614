"""Snapshot and restore by hand: save the whole VM, change it (run it on, or write over its RAM),
restore it, and see that it is back (*pillanatkép*; x86: QEMU's savevm/loadvm, a VMware
snapshot). The snapshot itself is vmkit/vmm/snapshot.py's (`vm.snapshot()`,
`vm.load_snapshot()`), kept in memory; `vm.save(path)` writes the same bytes to a file.

What the panel compares, now against saved, is what the guest can observe: its guest time
(instructions and idle time), pc and registers, every byte of its RAM (as a SHA-256) and its
console. Each button is a method too (`save`, `run`, `scribble`, `restore`), so a notebook can
show the steps without a click.
"""

import hashlib
from html import escape

import ipywidgets as w

from vmkit.vmm.layout import GUEST_RAM

SCRIBBLE = b"\xde\xad\xbe\xef" * 1024          # a page of junk, easy to spot in a memory view


class SnapshotPanel:
    def __init__(self, vm, step=20_000):
        """`vm`: a VirtualMachine; `step`: guest instructions the "run on" button runs."""
        if not isinstance(step, int) or isinstance(step, bool) or step < 1:
            raise ValueError(f"step must be a positive number of instructions, not {step!r}")
        self.vm, self.step = vm, step
        self.snapshot = None                  # the last one saved
        self.saved = None                     # its state(), to compare with
        self.size = 0                         # bytes of its file format
        self.message = ""
        self.buttons = {name: w.Button(description=name) for name in
                        ("save", "run on", "write RAM", "restore")}
        for name, action in (("save", self.save), ("run on", self.run),
                             ("write RAM", self.scribble), ("restore", self.restore)):
            self.buttons[name].on_click(lambda _, action=action: self._click(action))
        self.html = w.HTML()
        self.widget = w.VBox([w.HBox(list(self.buttons.values())), self.html])
        self.refresh()

    # -- what the buttons do ---------------------------------------------------------------------
    def save(self):
        self.snapshot = self.vm.snapshot()
        self.saved = self.state()
        self.size = len(self.snapshot.to_bytes())
        self.message = f"saved: {self.size} bytes (JSON header + compressed RAM and state)"
        self.refresh()

    def run(self, instructions=None):
        stop = self.vm.run(instructions or self.step)
        self.message = f"ran on: {stop.reason}" + (f" ({stop.message})" if stop.message else "")
        self.refresh()

    def scribble(self, offset=None):
        """Write a page of junk into guest RAM at `offset` (default: its last page)."""
        offset = self.vm.ram_size - len(SCRIBBLE) if offset is None else offset
        if not self.vm.write_guest(GUEST_RAM + offset, SCRIBBLE):
            raise ValueError(f"offset {offset:#x} is not a page inside guest RAM")
        self.message = f"wrote {len(SCRIBBLE)} bytes of 0xdeadbeef at {GUEST_RAM + offset:#010x}"
        self.refresh()

    def restore(self):
        if self.snapshot is None:
            raise ValueError("nothing to restore: save a snapshot first")
        self.vm.load_snapshot(self.snapshot)
        self.message = "restored"
        self.refresh()

    # -- what is shown ---------------------------------------------------------------------------
    def state(self):
        """What the guest can observe, in short: guest time, pc, digests of its registers and
        RAM, and its console's length and last line."""
        vm = self.vm
        cpu = vm.engine.guest_state()
        registers = repr((cpu["x"], cpu["pc"], sorted(cpu["csrs"].items()))).encode()
        console = bytes(vm.console)
        lines = console.decode("utf-8", "replace").splitlines()
        return {"guest instructions": vm.counters.guest_instructions,
                "idle": vm.counters.idle,
                "pc": f"{cpu['pc']:#010x}",
                "registers and CSRs": hashlib.sha256(registers).hexdigest()[:16],
                "RAM (sha256)": hashlib.sha256(vm.read_guest(GUEST_RAM, vm.ram_size))
                .hexdigest()[:16],
                "console bytes": len(console),
                "console's last line": lines[-1] if lines else ""}

    @property
    def back(self):
        """True when the VM is exactly as saved (by everything `state` shows)."""
        return self.saved is not None and self.state() == self.saved

    def refresh(self):
        now = self.state()
        self.buttons["restore"].disabled = self.snapshot is None
        rows = "".join(
            f"<tr><td>{escape(key)}</td><td><code>{escape(str(value))}</code></td>"
            f"<td><code>{escape(str(self.saved[key])) if self.saved else ''}</code></td></tr>"
            for key, value in now.items())
        verdict = ("no snapshot yet" if self.saved is None else
                   "the VM is as saved" if self.back else "the VM differs from the snapshot")
        self.html.value = (f"<table><tr><th></th><th>now</th><th>saved</th></tr>{rows}</table>"
                           f"<p><b>{verdict}</b>. {escape(self.message)}</p>")

    def _click(self, action):
        try:
            action()
        except Exception as error:            # a bad snapshot, a VMM error: shown, not raised
            self.message = f"{type(error).__name__}: {error}"
            self.refresh()

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
