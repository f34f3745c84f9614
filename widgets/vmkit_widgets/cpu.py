"""The CPU view and its buttons: what the guest's hart holds, and step / run / stop.

`CpuView` shows pc, the 32 integer registers by ABI name, the privilege mode and the V bit
(virtualization mode: x86 calls it VMX non-root), and the guest's key supervisor CSRs.
Under `hw` the guest's sstatus/sepc/scause/stval live in the hart's VS copies (vsstatus, ...;
x86: the guest-state area of the VMCS), which the view names. Refreshed on demand.

`Controls` wires three buttons to a `runner.Runner`: the buttons only call its methods.
"""

from html import escape

import ipywidgets as w

from vmkit.hw.hart import PRIV_NAMES
from vmkit.isa import ABI_NAMES, CSR_BY_NUMBER

# sstatus sepc scause stval: the CSRs a trap handler reads first.
KEY_CSRS = (0x100, 0x141, 0x142, 0x143)
VS_COPY = {0x100: "vsstatus", 0x141: "vsepc", 0x142: "vscause", 0x143: "vstval"}
GUEST_PRIV = {0: "U", 1: "S", 3: "M"}


def guest_pc(engine):
    """(guest pc, translation-cache address or None). Under `bt` the hart may stop between
    two translated blocks, its pc at the next block's entry in the translation cache: the
    guest pc is the one that block was translated from."""
    pc = engine.guest_state()["pc"]
    in_tc = getattr(engine, "in_tc", None)
    if in_tc is None or not in_tc(pc):
        return pc, None
    origin = engine.by_tc.get(pc)
    if origin is not None:
        return origin[0], pc
    entries = {block.tc: gpc for gpc, block in engine.blocks.items()}
    return entries.get(pc, pc), pc


class CpuView:
    def __init__(self, vm):
        self.vm = vm
        self.html = w.HTML()
        self.widget = self.html
        self.refresh()

    def state(self):
        """The view's content as plain data: {"pc", "tc_pc" (bt: the translation-cache
        address, else None), "x": {abi: value}, "mode", "v", "guest_priv", "csrs"}."""
        engine = self.vm.engine
        guest = engine.guest_state()
        cpu = engine.cpu
        vcpu = getattr(engine, "vcpu", None)        # trap, bt, emulate: the guest's own record
        hw = engine.name == "hw"
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
                "guest_priv": GUEST_PRIV.get(vcpu.priv if vcpu is not None else
                                             cpu.priv, "?"),
                "csrs": csrs}

    def refresh(self):
        s = self.state()
        tc = "" if s["tc_pc"] is None else f" (translated, at {s['tc_pc']:#010x})"
        head = (f"<b>pc</b> {s['pc']:#010x}{tc} &nbsp; <b>hart mode</b> {s['mode']} "
                f"&nbsp; <b>V</b> {s['v']} &nbsp; <b>guest privilege</b> {s['guest_priv']}"
                f" &nbsp; <i>engine {escape(self.vm.engine.name)}</i>")
        cells = [f"<td><code>{name}</code></td><td><code>{value:#010x}</code></td>"
                 for name, value in s["x"].items()]
        rows = "".join("<tr>" + "".join(cells[i:i + 4]) + "</tr>" for i in range(0, 32, 4))
        csrs = "".join(f"<tr><td><code>{escape(name)}</code></td>"
                       f"<td><code>{value:#010x}</code></td></tr>"
                       for name, value in s["csrs"].items())
        self.html.value = (f"<div>{head}</div><table>{rows}</table>"
                           f"<table><tr><th>CSR</th><th>value</th></tr>{csrs}</table>")

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


class Controls:
    def __init__(self, runner):
        self.runner = runner
        self.step_button = w.Button(description="step", tooltip="run one guest instruction")
        self.run_button = w.Button(description="run", tooltip="run until the guest stops")
        self.stop_button = w.Button(description="stop", tooltip="stop after this chunk")
        self.status = w.Label()
        self.step_button.on_click(lambda _: self._press(self.runner.step))
        self.run_button.on_click(lambda _: self._press(self.runner.start))
        self.stop_button.on_click(lambda _: self._press(self.runner.stop))
        self.widget = w.HBox([self.step_button, self.run_button, self.stop_button, self.status])
        self.update()

    def _press(self, action):
        action()
        self.update()

    def update(self):
        """Enable the buttons that make sense now; show why the guest last stopped."""
        r = self.runner
        self.step_button.disabled = self.run_button.disabled = r.running or r.finished
        self.stop_button.disabled = not r.running
        last = r.vm.stop or r.last
        reason = "" if last is None else last.reason + (f": {last.message}" if last.message
                                                        and last.reason != "budget" else "")
        self.status.value = f"{r.executed} instructions" + (f", {reason}" if reason else "")

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
