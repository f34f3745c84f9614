"""Binder: build a fresh environment from exactly the files repo2docker reads (binder/), the
way it does, and run every notebook in it with that environment's own kernel.

repo2docker makes a virtual environment with the Python of binder/runtime.txt, runs
`pip install -r binder/requirements.txt` in the repository root, then `binder/postBuild`
with that environment first on PATH. Docker is not needed for that much, so this test does the
same with `python -m venv`, then executes each notebook (a copy, so the checkout stays clean)
with the environment's nbclient and its own "python3" kernel, and checks that the kernel is the
environment's Python importing the vmkit it installed. Needs the network for pip (PyPI) and
the Python that runtime.txt names; prints how long each step took.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import need_tool

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"

# Run by the environment's own Python: its nbclient, its kernel. Prints one JSON line.
RUNNER = r"""
import json, sys, time
import nbclient, nbformat

def run(book, path):
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": path}})
    client.execute()
    return [o for c in book.cells if c.cell_type == "code" for o in c.outputs]

probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    "import sys, vmkit, vmkit_widgets; print(sys.executable); print(vmkit.__file__)")])
kernel = "".join(o.get("text", "") for o in run(probe, ".")).split()
results = []
for path in sys.argv[1:]:
    start = time.perf_counter()
    outputs = run(nbformat.read(path, as_version=4), path.rsplit("/", 1)[0])
    errors = [o["ename"] + ": " + o["evalue"] for o in outputs if o.output_type == "error"]
    results.append({"notebook": path, "seconds": round(time.perf_counter() - start, 1),
                    "errors": errors})
print(json.dumps({"kernel": kernel, "notebooks": results}))
"""


def runtime_python():
    """The interpreter binder/runtime.txt asks for ("python-3.11"): this one if it matches."""
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-3."), f"binder/runtime.txt: unexpected {runtime!r}"
    version = runtime.removeprefix("python-")
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    return need_tool(f"python{version}")


def step(what, command, env, cwd=REPO, timeout=600):
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False,
                          timeout=timeout)
    assert done.returncode == 0, f"{what} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done, time.perf_counter() - start


def test_binder_environment_runs_every_notebook(tmp_path, capsys):
    python = runtime_python()
    postbuild = BINDER / "postBuild"
    assert os.access(postbuild, os.X_OK), "binder/postBuild must be executable (repo2docker)"
    venv = tmp_path / "venv"
    # Nothing from the calling environment leaks in: no PYTHONPATH, no user kernel specs.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               IPYTHONDIR=str(tmp_path / "ipython"))
    times = {}
    _, times["venv"] = step("python -m venv", [python, "-m", "venv", str(venv)], env)
    _, times["pip install"] = step(
        "pip install -r binder/requirements.txt",
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         "-r", "binder/requirements.txt"], env)
    _, times["postBuild"] = step("binder/postBuild", [str(postbuild)], env)

    notebooks = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", ".OTTER_LOG"))
    paths = sorted(str(p) for p in notebooks.rglob("*.ipynb"))
    done, times["notebooks"] = step("running the notebooks",
                                    [str(venv / "bin" / "python"), "-c", RUNNER, *paths],
                                    env, timeout=1200)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    with capsys.disabled():
        print("\n  Binder check: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
              + "; " + ", ".join(f"{Path(n['notebook']).stem} {n['seconds']} s"
                                 for n in result["notebooks"]))

    executable, vmkit_file = result["kernel"]
    assert Path(executable).parent == venv / "bin"          # the environment's own kernel
    assert Path(vmkit_file).is_relative_to(REPO / "vmkit")  # the vmkit it installed (-e .)
    assert len(result["notebooks"]) == len(paths) >= 6
    assert all(not n["errors"] for n in result["notebooks"]), result["notebooks"]
