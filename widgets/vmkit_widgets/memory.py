"""The memory view: a hex dump of guest memory around an address the student types: a number
(0x8000_0000), a register (pc, sp, a0, x5), a symbol of the program (tasks), each optionally
plus or minus an offset (sp-32). It follows the guest: the panel refreshes it after every
step and tick, so "sp" or "pc" track the running guest.

Looking must not disturb the guest. The view copies bytes out of guest RAM as the VMM sees it
(`vm.read_guest`, as QEMU's monitor command `xp` reads guest-physical memory): not through the
guest's MMU (no TLB fill, no accessed/dirty bits), not from a device (reading a UART's receive
register would take the byte the guest is waiting for) and without counting anything.
So the addresses are guest-physical; a guest with paging on (satp MODE = Sv32) runs at virtual
addresses, and the view says so.
"""

import re
from html import escape

import ipywidgets as w

from vmkit.isa import ABI_NAMES

from .cpu import guest_pc

ROWS = 8                 # rows shown, the address in the middle one
WIDTH = 16               # bytes per row, as in `xxd` and `hexdump -C`
SATP = 0x180
SATP_MODE = 1 << 31      # RV32 satp.MODE: 1 = Sv32
ADDRESS = re.compile(r"\s*([^\s+-]+)\s*(?:([+-])\s*([^\s+-]+))?\s*")
TARGET_STYLE = "background:#cde4ff;font-weight:bold"


class MemoryView:
    def __init__(self, vm, symbols=None, at="pc", rows=ROWS):
        self.vm = vm
        self.symbols = dict(symbols or {})
        self.rows = rows
        self.address = w.Text(value=at, description="memory at", continuous_update=False,
                              placeholder="pc, sp, a0, a symbol, 0x8000_0000, sp-32")
        self.html = w.HTML()
        self.dump = []                   # [(row address, 16 bytes or None outside RAM)]
        self.target = None               # the address the student asked for, or None
        self.address.observe(lambda _: self.refresh(), names="value")
        self.widget = w.VBox([self.address, self.html])
        self.refresh()

    def resolve(self, text):
        """The guest-physical address `text` names; ValueError with a one-line reason."""
        match = ADDRESS.fullmatch(text)
        if not match:
            raise ValueError(f"type an address, e.g. pc, sp-32, tasks or 0x8000_0000 "
                             f"(not {text!r})")
        base, sign, offset = match.groups()
        value = self._term(base)
        if sign:
            value += self._term(offset) * (1 if sign == "+" else -1)
        return value & 0xFFFF_FFFF

    def _term(self, term):
        state = self.vm.engine.guest_state()
        registers = dict(zip(ABI_NAMES, state["x"]))
        registers.update({f"x{n}": value for n, value in enumerate(state["x"])})
        registers["fp"] = registers["s0"]
        registers["pc"] = guest_pc(self.vm.engine)[0]
        if term in registers:
            return registers[term]
        if term in self.symbols:
            return self.symbols[term]
        try:
            return int(term, 0)
        except ValueError:
            raise ValueError(f"{term!r} is not a register, a symbol of the program or a "
                             f"number") from None

    def refresh(self):
        """Read the rows around the typed address again (the guest may have written them)."""
        try:
            self.target = self.resolve(self.address.value)
        except ValueError as error:
            self.target, self.dump = None, []
            self.html.value = f"<i>{escape(str(error))}</i>"
            return
        start = (self.target & ~(WIDTH - 1)) - WIDTH * (self.rows // 2)
        start = min(max(start, 0), (1 << 32) - WIDTH * self.rows)
        self.dump = [(row, self.vm.read_guest(row, WIDTH))
                     for row in range(start, start + WIDTH * self.rows, WIDTH)]
        self.html.value = self._render()

    def _render(self):
        head = (f"<b>{escape(self.address.value.strip())}</b> = {self.target:#010x} "
                f"(guest-physical)")
        if self.vm.engine.guest_state()["csrs"][SATP] & SATP_MODE:
            head += (" &nbsp; <i>the guest has paging on (satp MODE Sv32): its pc and sp are "
                     "virtual addresses</i>")
        lines = [f"{row:#010x}  " + (self._hex(row, data) if data is not None else
                                     "(not guest RAM: device registers and holes are not "
                                     "read)")
                 for row, data in self.dump]
        return f"<div>{head}</div><pre style='margin:0'>{chr(10).join(lines)}</pre>"

    def _hex(self, row, data):
        """16 bytes as hex (the word at the target highlighted) and as ASCII."""
        line = ""
        for i, byte in enumerate(data):
            target = self.target <= row + i < self.target + 4
            if target and (i == 0 or row + i == self.target):
                line += f"<span style='{TARGET_STYLE}'>"
            line += f"{byte:02x}"
            if target and (i == WIDTH - 1 or row + i + 1 == self.target + 4):
                line += "</span>"
            line += "  " if i == 7 else " "
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)
        return line + f" |{escape(text)}|"

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
