"""The same `vmkit bench` in CPython and in Pyodide (Node.js), one after the other: MIPS side
by side and how many times slower Pyodide is.

    python3 wasm/node/bench.py [--pyodide VERSION ...] [--repeat N] [--scale X] [--json]

Each run is a separate process (this Python, then `node run.mjs --pyodide V bench --json` per
version), one at a time so they do not compete for the CPU, and the runtimes take turns for
`--rounds` rounds so that a busy spell on the machine slows all of them, not one. A process
reports the median of `--repeat` runs of each row (as `vmkit bench` does); a cell here is the
median of that over the rounds. The slowdown of a row is CPython's MIPS over Pyodide's; the
last line gives the median slowdown over rows.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def pinned_versions():
    """Pyodide versions package.json pins (aliases "pyodide-VERSION")."""
    deps = json.loads((HERE / "package.json").read_text())["dependencies"]
    return [name.removeprefix("pyodide-") for name in deps if name.startswith("pyodide-")]


def bench_rows(command):
    """Run one `vmkit bench --json` command; its timed rows keyed by (path, workload, paging).
    Speed rows carry `mips`; the five-technique comparison rows carry `seconds`."""
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"bench.py: {' '.join(command)} failed (exit {result.returncode}):\n"
                 f"{result.stderr}")
    return {(r["path"], r["workload"], r["paging"]): r for r in json.loads(result.stdout)
            if r["mips"] is not None or "seconds" in r}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pyodide", nargs="+", default=pinned_versions(), metavar="VERSION")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    unknown = set(args.pyodide) - set(pinned_versions())
    if unknown:
        parser.error(f"not pinned in package.json: {', '.join(sorted(unknown))}")

    options = ["--json", "--repeat", str(args.repeat), "--scale", str(args.scale)]
    python = f"CPython {sys.version.split()[0]}"
    commands = {python: [sys.executable, "-m", "vmkit", "bench", *options]}
    for version in args.pyodide:
        commands[f"Pyodide {version}"] = ["node", str(HERE / "run.mjs"), "--pyodide", version,
                                          "bench", *options]
    runs = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, command in commands.items():
            runs[name].append(bench_rows(command))

    def value(name, key):
        """Median over the rounds: MIPS (more is faster) or seconds (less is faster)."""
        unit = "mips" if runs[name][0][key]["mips"] is not None else "seconds"
        return statistics.median(run[key][unit] for run in runs[name]), unit

    rows = []
    for key in runs[python][0]:
        cpython, unit = value(python, key)
        out = {"path": key[0], "workload": key[1], "paging": key[2], "unit": unit,
               python: cpython}
        for name in runs:
            if name != python:
                out[name] = value(name, key)[0]
                slowdown = cpython / out[name] if unit == "mips" else out[name] / cpython
                out[f"slowdown {name}"] = round(slowdown, 2)
        rows.append(out)
    medians = {name: round(statistics.median(r[f"slowdown {name}"] for r in rows), 2)
               for name in runs if name != python}
    if args.json:
        print(json.dumps({"rows": rows, "median_slowdown": medians}, indent=1))
        return 0
    names = [n for n in runs if n != python]
    print(f"{'path':<10} {'workload':<15} {'paging':<6} {'unit':<7} {python:>16}"
          + "".join(f" {n:>16} {'slower':>7}" for n in names))
    for r in rows:
        print(f"{r['path']:<10} {r['workload']:<15} {r['paging']:<6} {r['unit']:<7} "
              f"{r[python]:>16.2f}"
              + "".join(f" {r[n]:>16.2f} {r['slowdown ' + n]:>6.2f}x" for n in names))
    print("median slowdown: " + ", ".join(f"{n} {m:.2f}x" for n, m in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
