"""The guest's source code with the line the pc is in highlighted (the assembler's line map).

`Program.line_map` maps every instruction's address to (file, line). The text of a file comes
from `sources` (file name -> text) if given, else from the shipped guest workloads
(vmkit/guest: tinyos.s, priv.inc, ...), else from the file system.
"""

from html import escape
from importlib import resources
from pathlib import Path

import ipywidgets as w

CONTEXT = 6              # lines shown above and below the current one


class SourceView:
    def __init__(self, program, sources=None, context=CONTEXT):
        self.line_map = getattr(program, "line_map", {})     # an ElfImage has none
        self.sources = dict(sources or {})
        self.context = context
        self.html = w.HTML()
        self.widget = self.html
        self.current = None              # (file, line) shown, or None

    def lines(self, filename):
        if filename not in self.sources:
            self.sources[filename] = _read(filename)
        return self.sources[filename]

    def show(self, pc):
        """Highlight the source line of the instruction at `pc`."""
        site = self.line_map.get(pc)
        self.current = site
        if site is None:
            self.html.value = f"<i>pc {pc:#010x}: no source line (outside the program)</i>"
            return
        filename, line = site
        text = self.lines(filename)
        if text is None:
            self.html.value = f"<i>{escape(filename)}:{line}: source not available</i>"
            return
        numbered = text.splitlines()
        first, last = max(1, line - self.context), min(len(numbered), line + self.context)
        rows = []
        for n in range(first, last + 1):
            style = ' style="background:#ffe08a"' if n == line else ""
            rows.append(f"<div{style}><code>{n:5}  {escape(numbered[n - 1])}</code></div>")
        self.html.value = (f"<div><b>{escape(filename)}:{line}</b> &nbsp; pc {pc:#010x}</div>"
                           f"<pre style='margin:0'>{''.join(rows)}</pre>")

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


def _read(filename):
    """A guest workload file shipped with vmkit, or a file on disk; None if neither exists."""
    packaged = resources.files("vmkit.guest").joinpath(Path(filename).name)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    path = Path(filename)
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
