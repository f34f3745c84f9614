"""The page-walk view: one guest load, stepped through reference by reference, under native,
shadow (trap) and nested (hw, 4 KiB or 4 MiB G-stage pages) paging.

The lecture's nested-walk figure, live: rows are the levels of the guest's own table (and the
data), columns the G-stage steps that translate each guest PTE's address before it can be read
(x86: EPT / AMD RVI; RISC-V: hgatp, the G-stage), so a cell's number says when that read
happened. Under trap the columns are the shadow table the hardware walks and the guest table
the VMM walks in software after the hidden fault. Below the grid: every step in words, the
count so far, and at the end the TLB entry the access left.

Data from vmkit.pagewalk.observe (the MMU's walk_log): nothing is drawn that did not happen.
"""

from html import escape

import ipywidgets as w

from vmkit.pagewalk import TECHNIQUES, observe

CURRENT = "background:#ffe08a"          # the step just taken
DONE = "background:#dbeafe"             # steps taken before it
AHEAD = "background:#f1f1f1"            # a cell a later step will fill: the walk's shape


def grid(access):
    """(row labels, column labels, {(row, column): [step numbers]}) for the access's reads."""
    cells, rows, columns = {}, {}, []
    vs_seen = 0                          # VS PTEs read so far: the row of the G reads now
    for step in access.references:
        ref = step.ref
        if ref.stage == "G":
            row, column = vs_seen, f"G-stage level {ref.level}"
        elif ref.stage == "VS":
            row, column = vs_seen, "VS PTE (guest's table)"
            rows[row] = f"VS level {ref.level}"
            vs_seen += 1
        else:                            # HS (native, trap's shadow) or the VMM's reads
            row = 1 - ref.level          # the root (level 1) first
            rows[row] = f"level {ref.level} ({'root' if ref.level else 'leaf'})"
            column = {"guest": "guest's table (VMM, software)",
                      "HS": "shadow table (hardware)" if access.shadowed
                      else "page table (hardware)"}[ref.stage]
        rows.setdefault(row, "data (guest-physical)")
        if column not in columns:
            columns.append(column)
        cells.setdefault((row, column), []).append(step.number)
    columns.sort(key=lambda c: (not c.startswith("G-stage"), c.startswith("guest"),
                                c.startswith("G-stage level 0")))
    return [rows[r] for r in sorted(rows)], columns, cells


class PageWalk:
    def __init__(self, technique="nested paging, 4 KiB G-stage pages (hw)"):
        if technique not in TECHNIQUES:
            raise ValueError(f"unknown technique {technique!r}; choose one of "
                             f"{', '.join(TECHNIQUES)}")
        self.choice = w.Dropdown(options=list(TECHNIQUES), value=technique,
                                 description="paging", layout=w.Layout(width="34em"))
        self.step_button = w.Button(description="step")
        self.all_button = w.Button(description="all steps")
        self.reset_button = w.Button(description="reset")
        self.picture, self.count, self.steps_html = w.HTML(), w.HTML(), w.HTML()
        self.choice.observe(lambda change: self.load(change["new"]), names="value")
        self.step_button.on_click(lambda _: self.step())
        self.all_button.on_click(lambda _: self.step(len(self.access.steps)))
        self.reset_button.on_click(lambda _: self.reset())
        self.widget = w.VBox([w.HBox([self.choice, self.step_button, self.all_button,
                                      self.reset_button]),
                              self.picture, self.count, self.steps_html])
        self._observed = {}              # technique -> Access: each is one run, made once
        self.load(technique)

    def load(self, technique):
        """Show the access under `technique` (a key of vmkit.pagewalk.TECHNIQUES), unstepped."""
        if technique not in self._observed:
            self._observed[technique] = observe(**TECHNIQUES[technique])
        self.technique, self.access = technique, self._observed[technique]
        if self.choice.value != technique:
            self.choice.value = technique          # calls load again: harmless
        self.reset()

    def reset(self):
        self.shown = 0
        self.refresh()

    def step(self, count=1):
        """Show `count` more steps (a PTE read or an event: a fault, the fill, the TLB entry)."""
        self.shown = min(self.shown + count, len(self.access.steps))
        self.refresh()

    # -- what is shown -------------------------------------------------------------------------
    def taken(self):
        return self.access.steps[:self.shown]

    def references_shown(self, who=None):
        return sum(s.ref is not None and (who is None or s.who == who) for s in self.taken())

    def refresh(self):
        access, taken = self.access, self.taken()
        last = max((s.number for s in taken), default=0)
        rows, columns, cells = grid(access)
        head = "".join(f"<th style='padding:2px 8px'>{escape(c)}</th>" for c in columns)
        body = []
        for r, label in enumerate(rows):
            tds = []
            for column in columns:
                planned = cells.get((r, column), [])
                numbers = [n for n in planned if n <= last]
                style = (CURRENT if last in numbers else DONE if numbers else
                         AHEAD if planned else "")
                tds.append(f"<td style='text-align:center;padding:2px 8px;{style}'>"
                           f"{', '.join(map(str, numbers))}</td>")
            body.append(f"<tr><th style='text-align:left;padding:2px 8px'>{escape(label)}"
                        f"</th>{''.join(tds)}</tr>")
        self.picture.value = (f"<table class='vmkit-pagewalk'><tr><th></th>{head}</tr>"
                              f"{''.join(body)}</table>")
        total_hw, total_vmm = access.count("hardware"), access.count("VMM")
        text = (f"memory references: <b>{self.references_shown('hardware')} of {total_hw}</b> "
                "by the hardware walker")
        if total_vmm:
            text += f", {self.references_shown('VMM')} of {total_vmm} by the VMM in software"
        if self.shown == len(access.steps):
            text += (f"; the MMU counted {access.counters['walk_references']} in "
                     f"{access.counters['page_walks']} walk(s)")
        self.count.value = text
        lines = []
        for s in taken:
            mark = f"{s.number:>2}." if s.number else "&nbsp;&nbsp;&nbsp;"
            line = f"{mark} <b>{s.who}</b>: {escape(s.text)}"
            lines.append(f"<i>{line}</i>" if s.ref is None else line)
        self.steps_html.value = "<br>".join(lines) or "<i>press step</i>"

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
