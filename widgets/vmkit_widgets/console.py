"""The VM's serial console in a notebook: guest output appears as the guest writes it, and the
box stays scrolled to its end, as a terminal does.

Give `VmConsole.write` to `VirtualMachine(console=...)`: the VMM calls it with the bytes the
guest's UART (16550) transmitted, chunk by chunk.

Scrolling to the end is done by the browser, not by us: ipywidgets cannot scroll a widget from
Python (a Textarea keeps its scroll position at the top whenever its value changes). The text
sits in a box laid out `flex-direction: column-reverse`, whose scroll origin is its bottom
edge: the box opens at its end, and stays there as the text grows.
"""

import codecs
from html import escape

import ipywidgets as w

BOX_STYLE = ("display:flex;flex-direction:column-reverse;overflow-y:auto;"
             "border:1px solid #c8c8c8;padding:2px 6px;background:#fff")
# A short text sits at the top of the box (the auto margin takes the free space below it).
# The text keeps its full height (no shrinking, no scroll bar of its own: JupyterLab's style
# sheet gives every <pre> `overflow: auto`), so that the box is what scrolls.
TEXT_STYLE = ("margin:0 0 auto 0;flex-shrink:0;overflow:visible;white-space:pre-wrap;"
              "word-break:break-all")
PLACEHOLDER = "(guest console)"
# A guest can print without end: the box keeps the tail, as a terminal's scrollback does, and
# says how much it dropped (every byte is also rendered as HTML on each write, so this bounds
# the widget's work per write too).
KEEP_CHARS = 64 * 1024


class VmConsole:
    def __init__(self, rows=12):
        self.rows = rows
        self.value = ""                  # the last KEEP_CHARS characters the guest printed
        self.dropped = 0                 # characters before them, no longer kept
        self.html = w.HTML(layout=w.Layout(width="100%"))
        # Incremental: a UTF-8 character may arrive split across two UART writes.
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.widget = self.html
        self._render()

    def write(self, data: bytes):
        self.value += self._decoder.decode(bytes(data))
        if len(self.value) > KEEP_CHARS:
            self.dropped += len(self.value) - KEEP_CHARS
            self.value = self.value[-KEEP_CHARS:]
        self._render()

    def clear(self):
        self.value = ""
        self.dropped = 0
        self._decoder.reset()
        self._render()

    def _render(self):
        text = escape(self.value) if self.value else f"<i>{PLACEHOLDER}</i>"
        if self.dropped:
            text = f"<i>({self.dropped:,} earlier characters not kept)</i>\n" + text
        self.html.value = (f"<div class='vmkit-console' style='{BOX_STYLE};"
                           f"height:{self.rows * 1.4:.1f}em'>"
                           f"<pre style='{TEXT_STYLE}'>{text}</pre></div>")

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
