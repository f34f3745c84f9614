"""The CPU view and its buttons: what the guest's hart holds, and step / run / stop / reset.

`CpuView` shows pc, the 32 integer registers by ABI name, the privilege mode and the V bit
(virtualization mode: x86 calls it VMX non-root), and the guest's key supervisor CSRs.
Under `hw` the guest's sstatus/sepc/scause/stval live in the hart's VS copies (vsstatus, ...;
x86: the guest-state area of the VMCS), which the view names. Refreshed on demand; what
changed since the previous refresh (the last step or tick) is highlighted.

`Controls` wires the step / run / stop / reset buttons to a `runner.Runner`: the buttons only
call its methods (reset calls the panel's, which makes a fresh VM). Its status line says in
words why the guest is where it is.
"""

from html import escape

import ipywidgets as w

from vmkit.hw.hart import PRIV_NAMES
from vmkit.isa import ABI_NAMES, CSR_BY_NUMBER

# sstatus sepc scause stval: the CSRs a trap handler reads first.
KEY_CSRS = (0x100, 0x141, 0x142, 0x143)
VS_COPY = {0x100: "vsstatus", 0x141: "vsepc", 0x142: "vscause", 0x143: "vstval"}
GUEST_PRIV = {0: "U", 1: "S", 3: "M"}
CHANGED_STYLE = "background:#ffe08a;font-weight:bold"     # the source view's current line


def guest_pc(engine):
    """(guest pc, translation-cache address or None). Under `bt` the hart may stop between
    two translated blocks, its pc at the next block's entry in the translation cache: the
    guest pc is the one that block was translated from."""
    pc = engine.guest_state()["pc"]
    translation = engine.translation_at(pc)
    if translation is None:
        return pc, None
    return translation[1] if translation[1] is not None else pc, pc


class CpuView:
    def __init__(self, vm):
        self.html = w.HTML()
        self.widget = self.html
        self.reset(vm)

    def reset(self, vm):
        """Show `vm` (a fresh guest after the panel's reset): nothing has changed yet."""
        self.vm = vm
        self.changed = set()              # register and CSR names changed by the last step
        self._seen = None                 # what the previous refresh showed
        self.refresh()

    def state(self):
        """The view's content as plain data: {"pc", "tc_pc" (bt: the translation-cache
        address, else None), "x": {abi: value}, "mode", "v", "guest_priv", "csrs"}."""
        engine = self.vm.engine
        guest = engine.guest_state()
        cpu = engine.cpu
        hw = engine.has_vm_exits            # the guest's supervisor CSRs are the VS copies
        csrs = {}
        for number in KEY_CSRS:
            name = CSR_BY_NUMBER[number].name
            csrs[f"{name} (in {VS_COPY[number]})" if hw else name] = guest["csrs"][number]
        if hw:
            csrs["hstatus"] = cpu.hstatus
            csrs["hgatp"] = cpu.hgatp
        pc, tc = guest_pc(engine)
        return {"pc": pc, "tc_pc": tc, "x": dict(zip(ABI_NAMES, guest["x"])),
                "mode": PRIV_NAMES[(cpu.priv, cpu.virt)], "v": int(cpu.virt),
                "guest_priv": GUEST_PRIV.get(engine.guest_privilege(), "?"),
                "csrs": csrs}

    def _track(self, s):
        """Update `changed` if the guest moved since the previous refresh. A refresh that
        finds the same state (the runner's last one when a run ends) keeps the highlight."""
        values = {**s["x"], **s["csrs"]}
        seen = (self.vm.counters.guest_instructions, s["pc"], values)
        if self._seen is not None and seen != self._seen:
            before = self._seen[2]
            self.changed = {name for name, value in values.items() if before[name] != value}
        self._seen = seen

    def refresh(self):
        s = self.state()
        self._track(s)
        tc = "" if s["tc_pc"] is None else f" (translated, at {s['tc_pc']:#010x})"
        head = (f"<b>pc</b> {s['pc']:#010x}{tc} &nbsp; <b>hart mode</b> {s['mode']} "
                f"&nbsp; <b>V</b> {s['v']} &nbsp; <b>guest privilege</b> {s['guest_priv']}"
                f" &nbsp; <i>engine {escape(self.vm.engine.name)}</i>")
        cells = [self._cell(name, value) for name, value in s["x"].items()]
        rows = "".join("<tr>" + "".join(cells[i:i + 4]) + "</tr>" for i in range(0, 32, 4))
        csrs = "".join(f"<tr>{self._cell(name, value)}</tr>" for name, value in s["csrs"].items())
        legend = (f"<div><span style='{CHANGED_STYLE}'>highlighted</span>: changed by the "
                  f"last step or tick</div>")
        self.html.value = (f"<div>{head}</div><table>{rows}</table>"
                           f"<table><tr><th>CSR</th><th>value</th></tr>{csrs}</table>{legend}")

    def _cell(self, name, value):
        style = f" style='{CHANGED_STYLE}'" if name in self.changed else ""
        return (f"<td{style}><code>{escape(name)}</code></td>"
                f"<td{style}><code>{value:#010x}</code></td>")

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


class Controls:
    def __init__(self, runner, reset=None):
        """`reset()`: what the reset button does (the panel makes a fresh VM); no button
        without it."""
        self.runner = runner
        self.step_button = w.Button(description="step", tooltip="run one guest instruction")
        self.run_button = w.Button(description="run", tooltip="run until the guest stops")
        self.stop_button = w.Button(description="stop", tooltip="pause after this tick")
        self.status = w.Label()
        self.step_button.on_click(lambda _: self._press(self.runner.step))
        self.run_button.on_click(lambda _: self._press(self.runner.start))
        self.stop_button.on_click(lambda _: self._press(self.runner.stop))
        buttons = [self.step_button, self.run_button, self.stop_button]
        self.reset_button = None
        if reset is not None:
            self.reset_button = w.Button(description="reset", tooltip="start the guest again "
                                         "from its first instruction, console cleared")
            self.reset_button.on_click(lambda _: self._press(reset))
            buttons.append(self.reset_button)
        self.widget = w.VBox([w.HBox(buttons), self.status])
        self.update()

    def _press(self, action):
        action()
        self.update()

    def update(self):
        """Enable the buttons that make sense now; say where the guest is."""
        r = self.runner
        self.step_button.disabled = self.run_button.disabled = r.running or r.finished
        self.stop_button.disabled = not r.running
        self.status.value = status(r)

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


def status(runner):
    """Where the guest is, in words a student can act on."""
    r = runner
    done = f"{r.executed:,} instruction{'' if r.executed == 1 else 's'}"
    stop = r.vm.stop
    if stop is not None and stop.reason == "shutdown":
        if stop.message:                                  # SBI system reset with reboot
            return f"{stop.message} after {done}; press reset to start it again"
        return f"the guest shut down (exit code {stop.code}) after {done}; reset runs it again"
    if stop is not None and stop.reason == "wfi":
        return (f"waiting for an interrupt (wfi) after {done}: no timer is set, or its "
                f"interrupt is disabled; only a device (vm.raise_irq, UART input) can wake it")
    if stop is not None:
        return f"the guest stopped after {done}: {stop.message}"
    if r.running:
        return f"running: {done} so far; press stop to pause"
    if r.last is None:
        return "ready at the first instruction: press step to run one, or run"
    if r.at_limit:
        return (f"paused at the panel's limit of {r.max_instructions:,} instructions; "
                f"step still runs one more")
    return f"paused after {done}; press run to continue or step to run one more"
