"""The translation-cache view: one guest basic block beside what binary translation made of it.

The lecture's BT slide, live: each guest instruction (left) and the host instructions the `bt`
engine put in its translation cache for it (right): identical copies for innocuous code,
callouts to the VMM for privileged instructions, chained exits at the block's end.
Data from `BtEngine.describe_block` (VMware's BT: Adams & Agesen, ASPLOS 2006).
"""

from html import escape

import ipywidgets as w


class TranslationView:
    def __init__(self, vm):
        if not hasattr(vm.engine, "describe_block"):
            raise ValueError(f"the translation-cache view needs engine 'bt' (a translation "
                             f"cache), not {vm.engine.name!r}")
        self.engine = vm.engine
        self.html = w.HTML()
        self.widget = self.html

    def show(self, gpc):
        """Show the block that starts at guest pc `gpc` (translating it if it is not yet)."""
        rows = self.engine.describe_block(gpc)
        if not rows:
            self.html.value = f"<i>no block at guest pc {gpc:#010x}</i>"
            return rows
        body = []
        for guest_pc, guest_text, host in rows:
            left = ("" if guest_pc is None else f"{guest_pc:#010x}&nbsp; ") + escape(guest_text)
            right = "<br>".join(f"{address:#010x}&nbsp; {escape(text)}" for address, text in host)
            body.append(f"<tr><td style='vertical-align:top'><code>{left}</code></td>"
                        f"<td><code>{right}</code></td></tr>")
        self.html.value = (f"<table><tr><th>guest block at {gpc:#010x}</th>"
                           f"<th>translation cache</th></tr>{''.join(body)}</table>")
        return rows

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
