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
