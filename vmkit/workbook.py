"""`vmkit workbook`: a working copy of the notebooks, so that studying never edits the checkout.

The notebooks in the repository are the course as published. A student's answers, outputs
and JupyterLab's checkpoints belong in a folder of their own: `copy()` puts the lecture
notebooks and the homework's student files there, and never overwrites a file that is
already there (it may hold the student's work), so running it again only adds what is
missing. What only instructors need (a folder named `instructor` or `autograder`, with the
hidden tests and the answers) is never copied.

The core starts no processes (it also runs in Pyodide): opening JupyterLab replaces this
process with `python -m jupyter lab` (os.execvp), it does not start a child.
"""

import os
import shutil
import sys
from pathlib import Path

START = "00-start-here.ipynb"
DEFAULT_FOLDER = "vmkit-workbook"
# Never copied: instructors' material, and what tools leave behind.
SKIP = {"instructor", "autograder", ".ipynb_checkpoints", "__pycache__", ".OTTER_LOG"}


def source_folder():
    """The repository's notebooks/ beside the vmkit package, or None (an installed wheel
    carries no notebooks)."""
    folder = Path(__file__).resolve().parent.parent / "notebooks"
    return folder if (folder / START).is_file() else None


def student_files(source):
    """Paths (relative to `source`) of every file a student works with, sorted."""
    files = []
    for folder, subfolders, names in os.walk(source):
        subfolders[:] = sorted(d for d in subfolders if d not in SKIP and not d.startswith("."))
        files += [Path(folder, name).relative_to(source) for name in names
                  if name not in SKIP and not name.startswith(".")]
    return sorted(files)


def copy(source, target):
    """Copy the student files of `source` that `target` lacks; return (copied, kept) lists of
    relative paths. Files already in `target` are left alone, edited or not."""
    copied, kept = [], []
    for relative in student_files(source):
        destination = Path(target, relative)
        if destination.exists():
            kept.append(relative)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(source, relative), destination)
        copied.append(relative)
    return copied, kept


def jupyter_command():
    """The command that opens the start notebook in JupyterLab, in the current folder."""
    return [sys.executable, "-m", "jupyter", "lab", START]
