"""vmkit's core in Pyodide (WebAssembly CPython, as in JupyterLite) under Node.js, offline.

wasm/node/run.mjs loads each Pyodide version that wasm/node/package.json pins (npm ci when
node_modules is missing; pytest and hypothesis wheels pip-downloaded once, pinned by hash),
mounts this checkout and runs this very test suite inside it. Tests that need an external
program or the Jupyter layer skip there, saying "Pyodide"; everything else must pass. Skips
without node/npm, fails when VMKIT_REQUIRE_TOOLS=1 (tests/conftest.py).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import need_tool

HARNESS = Path(__file__).resolve().parent.parent / "wasm" / "node"
VERSIONS = [name.removeprefix("pyodide-") for name in
            json.loads((HARNESS / "package.json").read_text())["dependencies"]]
MIN_PASSED = 1500      # 1728 pass there as this is written; far fewer means tests went missing


def harness(*args, timeout=900):
    """Run wasm/node/run.mjs; node and npm must exist (skip, or fail under CI's rule)."""
    return subprocess.run(harness_command(*args), capture_output=True, text=True,
                          timeout=timeout, env=harness_env(), check=False)


def harness_command(*args):
    node = need_tool("node")
    need_tool("npm")                      # run.mjs runs `npm ci` when node_modules is missing
    return [node, str(HARNESS / "run.mjs"), *args]


def harness_env():
    return dict(os.environ, PYTHON=sys.executable)    # the pip that downloads the wheels


def python_of(version):
    """'3.12' for Pyodide 0.27.7: the CPython version its (installed) lock file declares."""
    lock = HARNESS / "node_modules" / f"pyodide-{version}" / "pyodide-lock.json"
    return ".".join(json.loads(lock.read_text())["info"]["python"].split(".")[:2])


@pytest.fixture(scope="module")
def suite_runs(tmp_path_factory):
    """The core suite inside every pinned Pyodide at once: one Node process each, side by
    side (each is single-threaded, and the machine has 2 cores: this halves CI's longest
    wait). npm ci, shared by all, runs first, alone; each version's wheels have their own
    folder. Output goes to files, not pipes, so no run blocks on a full pipe."""
    done = harness("--pyodide", VERSIONS[0], "python", "-c", "pass")
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path_factory.mktemp("pyodide")
    runs = {}
    for version in VERSIONS:
        out = open(folder / f"{version}.out", "w+")
        err = open(folder / f"{version}.err", "w+")
        process = subprocess.Popen(harness_command("--pyodide", version, "test", "-q"),
                                   stdout=out, stderr=err, text=True, env=harness_env())
        runs[version] = (process, out, err, time.perf_counter())
    yield runs
    for process, out, err, _ in runs.values():
        if process.poll() is None:
            process.kill()
            process.wait()
        out.close()
        err.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_core_suite_passes_in_pyodide(version, suite_runs, capsys):
    process, out, err, start = suite_runs[version]
    try:
        returncode = process.wait(timeout=1800)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    seconds = time.perf_counter() - start
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
    lines = [line for line in stdout.splitlines() if line.startswith("VMKIT-PYODIDE-RESULT ")]
    assert returncode == 0 and len(lines) == 1, stdout[-6000:] + stderr[-3000:]
    result = json.loads(lines[0].split(" ", 1)[1])
    with capsys.disabled():
        print(f"\n  Pyodide {version} (Python {result['python']}): {result['passed']} passed, "
              f"{result.get('skipped', 0)} skipped, pytest {result['seconds']} s, "
              f"whole run {seconds:.0f} s (the versions run side by side)")
    assert result["python"].startswith(python_of(version) + ".")    # the Pyodide asked for
    assert result["status"] == 0 and not result.get("failed") and not result.get("error")
    assert result["passed"] >= MIN_PASSED and result["passed"] > result.get("skipped", 0)
    # A skip there must be Pyodide's nature, never a missing install hiding a test.
    assert all("Pyodide" in reason for reason in result["skip_reasons"]), result["skip_reasons"]


def test_bench_runs_in_pyodide():
    done = harness("bench", "--json", "--repeat", "1", "--scale", "0.02", timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    mips = {(r["path"], r["workload"], r["paging"]): r["mips"] for r in rows
            if r["mips"] is not None}
    assert set(mips) == {(path, w, p) for path in ("reference", "fast")
                         for w in ("intloop", "memcpy") for p in ("bare", "sv32")}
    assert all(value > 0 for value in mips.values())
    # The compiled blocks (compile() and exec() inside Pyodide) work there too.
    compare = {r["path"]: r for r in rows if r["workload"] == "compare-tinyos"}
    assert compare["fast"]["instructions"] == compare["reference"]["instructions"] > 0


def test_harness_refuses_the_network():
    # The offline promise: any URL fetch inside Pyodide fails the run instead of downloading.
    done = harness("python", "-c", "from pyodide.http import pyfetch\n"
                   "await pyfetch('https://example.org/')", timeout=300)
    assert done.returncode == 1
    assert "network access refused (offline harness): https://example.org/" in done.stderr


def test_harness_rejects_bad_input_clearly():
    done = harness("--pyodide", "0.0.1", "test", timeout=60)
    assert done.returncode == 2 and "unknown Pyodide version 0.0.1" in done.stderr
    done = harness("frobnicate", timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("run.mjs: usage:")
    done = harness("vmkit", "run", "no-such-file.s", timeout=300)
    assert done.returncode == 1 and "no-such-file.s" in done.stderr
    assert "Traceback" not in done.stderr
