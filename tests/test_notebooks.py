"""Every notebook runs top to bottom without an error (nbclient), as a student would run it."""

import os
import sys
from pathlib import Path

import pytest

from conftest import REQUIRE_TOOLS

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").rglob("*.ipynb"))


def _need(module):
    try:
        return __import__(module)
    except ImportError:
        if REQUIRE_TOOLS:
            pytest.fail(f"{module} is not installed (pip install -e '.[lab,test]')")
        pytest.skip(f"{module} is not installed (pip install -e '.[lab,test]')")


@pytest.mark.skipif(sys.platform == "emscripten",
                    reason="nbclient runs a Jupyter kernel process; Pyodide cannot start processes")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    nbformat = _need("nbformat")
    nbclient = _need("nbclient")
    _need("bokeh")
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:           # committed without outputs (the repository's rule)
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, path.name
    client = nbclient.NotebookClient(book, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2 and os.path.basename(NOTEBOOKS[0]).startswith("00")


# -- what the lecture notebooks must contain (read as JSON: no Jupyter needed) ---------------------

import json
import re

ROOT = Path(__file__).parent.parent / "notebooks"
LECTURES = sorted(ROOT.glob("[0-9][0-9]-*.ipynb"))
EVERY_NOTEBOOK = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.ipynb")
                        if ".ipynb_checkpoints" not in p.parts)
NEXT = "Where to go next"

# The lecture's Hungarian terms (its slides), next to the English ones: every notebook names the
# three actors; each names the terms of what it teaches.
HUNGARIAN_EVERYWHERE = ("gazda", "vendég", "virtuális gép monitor")
HUNGARIAN = {
    "00-start-here.ipynb": ("tiszta emuláció", "bináris átírás", "paravirtualizáció",
                            "forráskód-átírás", "hardveres támogatás", "transzparencia"),
    "01-what-is-virtualization.ipynb": (
        "transzparencia", "védelem", "hatékonyság", "rendszer", "folyamat", "infrastruktúra",
        "1. típusú", "2. típusú", "tiszta emuláció", "bináris átírás", "paravirtualizáció",
        "forráskód-átírás", "hardveres támogatás", "natív virtualizáció", "kétszeres címfordítás",
        "vendég kitörése"),
    "02-cpu-virtualization.ipynb": (
        "érzékeny utasítás", "privilegizált utasítás", "tiszta emuláció", "bináris átírás",
        "paravirtualizáció", "forráskód-átírás", "hardveres támogatás", "natív virtualizáció",
        "hatékonyság"),
    "03-popek-goldberg.ipynb": ("érzékeny utasítás", "privilegizált utasítás", "transzparencia",
                                "védelem", "hatékonyság", "bináris átírás",
                                "hardveres támogatás", "kétszeres címfordítás"),
    "04-binary-translation.ipynb": ("bináris átírás", "érzékeny utasítás", "tiszta emuláció"),
    "05-hosts-and-guests.ipynb": ("1. típusú", "2. típusú", "védelem",
                                  "a vendég HALT utasítása nem állíthatja meg a gazdát",
                                  "pillanatkép"),
    "06-memory-virtualization.ipynb": ("kétszeres címfordítás", "árnyék laptábla",
                                       "beágyazott laptáblák", "TLB címkézés"),
    "07-io-virtualization.ipynb": ("szoftveres emuláció", "paravirtualizáció",
                                   "hardveres virtualizáció", "védelem",
                                   "infrastruktúra virtualizáció"),
}


def _cells(path):
    return [(c["cell_type"], "".join(c["source"]))
            for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]


def _sections(path):
    """[(title, [(cell type, source), ...])] split at each cell holding a `## ` heading."""
    sections = []
    for kind, source in _cells(path):
        heading = re.search(r"^## (.+)$", source, re.M) if kind == "markdown" else None
        if heading:
            sections.append((heading.group(1).strip(), []))
        if sections:
            sections[-1][1].append((kind, source))
    return sections


def _text(path):
    """All the notebook's text, runs of white space (line breaks) made single spaces."""
    return _flat("\n".join(source for _, source in _cells(path)))


def _flat(text):
    return " ".join(text.split())


def test_every_lecture_notebook_is_checked():
    assert [p.name for p in LECTURES] == sorted(HUNGARIAN)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, path.name


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_every_section_asks_for_a_prediction_before_it_runs(path):
    sections = [s for s in _sections(path) if s[0] != NEXT]
    assert len(sections) >= 2, path.name
    for title, cells in sections:
        asked = [i for i, (kind, source) in enumerate(cells)
                 if kind == "markdown" and "**Predict:**" in source]
        assert asked, f"{path.name}: section {title!r} has no **Predict:** prompt"
        assert any(kind == "code" for kind, _ in cells[asked[0] + 1:]), \
            f"{path.name}: section {title!r} runs nothing after its prediction"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_where_to_go_next_ends_the_notebook_and_lists_every_notebook(path):
    title, cells = _sections(path)[-1]
    assert title == NEXT and len(cells) == 1, path.name
    listing = cells[0][1]
    for name in EVERY_NOTEBOOK:
        assert re.search(rf"^\* `{re.escape(name)}`", listing, re.M), f"{path.name}: {name}"
    assert f"`{path.name}` (you are here)" in listing


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_the_lectures_hungarian_terms_are_there(path):
    text = _text(path)
    missing = [t for t in HUNGARIAN_EVERYWHERE + HUNGARIAN[path.name] if f"*{t}" not in text]
    assert not missing, f"{path.name} lacks {missing}"


def test_cpu_notebook_explains_its_numbers():
    path = ROOT / "02-cpu-virtualization.ipynb"
    cells = _cells(path)
    code = "\n".join(source for kind, source in cells if kind == "code")
    # the glossary and the timelines are computed, not typed
    assert "lab.exit_glossary_markdown()" in code
    assert re.search(r"for engine in engines:\n\s+steps = lab\.syscall_timeline\(engine\)", code)
    assert "lab.paravirtual_macros()" in code
    # the tinyos plot: both presets, and the explanation right after it
    plot = next(i for i, (kind, source) in enumerate(cells)
                if kind == "code" and "TechniqueComparison(" in source)
    assert 'preset="p4-2006"' in cells[plot][1] and 'preset="modern"' in cells[plot][1]
    explanation = _flat(cells[plot + 1][1])
    for phrase in ("console-bound", "two MMIO exits per character", "Adams & Agesen",
                   "ASPLOS 2006", "first-generation", "`modern`"):
        assert phrase in explanation, phrase
    # the count that explanation leans on is checked by the run itself
    assert 'counters["exits"]["mmio"] == 2 * characters' in code
    # why a RISC-V device access is a load and an x86 one may be an instruction
    text = _text(path)
    assert "port I/O" in text and "`IN`/`OUT`" in text and "ordinary `lbu`" in text
    # claim 4's numbers beside its source
    claim4 = next(i for i, (_, s) in enumerate(cells) if "### Claim 4" in s)
    assert "lab.paravirtual_macros()" in cells[claim4 + 1][1]


def test_popek_goldberg_notebook_reconciles_x86_and_risc_v():
    text = _text(ROOT / "03-popek-goldberg.ipynb")
    for phrase in ("classically virtualizable", "Robin & Irvine", "H extension", "`vsstatus`",
                   "hedeleg", "needs hardware support"):
        assert phrase in text, phrase


def test_hosts_notebook_shows_what_it_claims_from_its_runs():
    path = ROOT / "05-hosts-and-guests.ipynb"
    code = "\n".join(source for kind, source in _cells(path) if kind == "code")
    text = _text(path)
    # type 1 vs type 2 on vmkit's own structure, and what would change for the other
    for phrase in ("vmkit's VMM is type 1", "the whole simulator is type 2", "CFS",
                   "only one kernel can own a bare machine"):
        assert phrase.lower() in text.lower(), phrase
    # every guest set is run, and each claim is checked against a run alone
    for guest_set in ('"a=tinyos:hw", "b=tinyos:trap"', '"pv=tinyos:pv"', '"halt:hw"',
                      '"spin:bt"', '"traploop:trap"', '"storm:pv"', '"bad-hw=outside:hw"'):
        assert guest_set in code, guest_set
    assert code.count('lab.run("tinyos"') == 3 and "report_table(host, report)" in code
    assert "UtilizationPlot(rows)" in code and "sweep(range(1, 9))" in code
    assert '("credit", (512, 256))' in code
    # snapshot and restore: saved, changed both ways, restored, and shown to be back
    for step in ("panel.save()", "panel.run()", "panel.scribble()", "panel.restore()",
                 "panel.back", "VirtualMachine.restore(path)"):
        assert step in code, step
    assert code.rstrip().endswith("panel")              # the live panel ends the section


def test_memory_notebook_shows_what_it_claims_from_its_runs():
    path = ROOT / "06-memory-virtualization.ipynb"
    code = "\n".join(source for kind, source in _cells(path) if kind == "code")
    text = _text(path)
    # the lecture's slide: x86 beside RISC-V, every technique run (bt's shadows, pv's direct
    # paging), and the claim "trap is the dearest" printed from the runs
    for phrase in ("AMD RVI", "Intel EPT", "`vsatp`", "`hgatp`", "G-stage", "HANDLE_CR3",
                   "direct paging", "mmu_update"):
        assert phrase in text, phrase
    assert '"shadow (bt)": dict(engine="bt"), "direct (pv)": dict(engine="pv")' in code
    assert "dearest = {w: max(TECHNIQUES" in code
    # the slide's HANDLE_CR3 row live in bt's translation view
    assert 'view.show(program.symbols["satp_set"] + 16)' in code
    # one access under each technique, from the walk log, and the live widget
    assert "pagewalk.observe(**options)" in code and "pagewalk.TECHNIQUES" in code
    assert 'PageWalk("nested paging, 4 KiB G-stage pages (hw)")' in code
    # the four microbenchmarks under every paging technique, small and said to be small
    assert "for workload in guest.PAGING" in code and "ITERATIONS = 50" in code
    assert "50\niterations here (a small count" in "\n".join(s for _, s in _cells(path))
    for plotted in ('r.total_cycles for key, r in runs.items()',
                    'r.counters["walk_references"] for key, r in runs.items()',
                    'r.counters["walk_references"] for key, r in tagging.items()',
                    "GroupedBars(faults"):
        assert plotted in code, plotted
    assert "tlb_tagged=tagged" in code and '"shadow_switches"' in code
    # the claims checked by the run itself
    assert 'faults["pagefault", "true"] == ITERATIONS' in code
    assert "walk_log = []" in code
    # every constant the cycles lean on is printed with its source
    assert "model.sources[constant]" in code
