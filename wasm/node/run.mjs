// run.mjs: vmkit's core inside Pyodide under Node.js, with no network at all.
//
//   node wasm/node/run.mjs [--pyodide VERSION] test [PYTEST ARGS...]
//   node wasm/node/run.mjs [--pyodide VERSION] vmkit ARGS...      (e.g. vmkit bench --json)
//   node wasm/node/run.mjs [--pyodide VERSION] bench [ARGS...]    (= vmkit bench ARGS)
//   node wasm/node/run.mjs [--pyodide VERSION] python -c CODE     (top-level await allowed)
//
// Pyodide's core comes from the npm package (package.json pins every version this harness
// knows, as aliases "pyodide-VERSION"; "config.pyodide" is the default, VMKIT_PYODIDE or
// --pyodide picks another). The checkout is mounted into Pyodide's file system (NODEFS) and
// put on sys.path, so Pyodide runs the very files CPython runs. pytest and hypothesis are
// pure-Python wheels downloaded by pip, pinned with hashes in requirements.txt, and installed
// with Pyodide's own loader from the local files. Any attempt to fetch a URL fails the run:
// the tests must not pass by quietly downloading something.
//
// `test` ends with one line "VMKIT-PYODIDE-RESULT {json}" (counts, versions, seconds) for
// tests/test_pyodide.py; the exit status is pytest's (or the vmkit command's).

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const PYTHON = process.env.PYTHON || "python3";     // only used to run `pip download`

function die(message) {
    process.stderr.write(`run.mjs: ${message}\n`);
    process.exit(2);
}

function usage() {
    die("usage: node wasm/node/run.mjs [--pyodide VERSION] test|vmkit|bench [ARGS...]\n"
        + "       node wasm/node/run.mjs [--pyodide VERSION] python -c CODE");
}

function parseArgs(argv, pkg) {
    let version = process.env.VMKIT_PYODIDE || pkg.config.pyodide;
    if (argv[0] === "--pyodide") {
        if (argv.length < 2) usage();
        version = argv[1];
        argv = argv.slice(2);
    }
    const known = Object.keys(pkg.dependencies)
        .filter((name) => name.startsWith("pyodide-"))
        .map((name) => name.slice("pyodide-".length));
    if (!known.includes(version))
        die(`unknown Pyodide version ${version}; package.json pins: ${known.join(", ")}`);
    const [command, ...rest] = argv;
    if (command === "bench") return { version, command: "vmkit", args: ["bench", ...rest] };
    if (command === "python" && (rest.length !== 2 || rest[0] !== "-c")) usage();
    if (!["test", "vmkit", "python"].includes(command)) usage();
    return { version, command, args: rest };
}

function run(program, args, cwd) {
    // Children write to our stderr, so that stdout stays the Python program's own output.
    const result = spawnSync(program, args, { cwd, stdio: ["ignore", 2, 2] });
    if (result.error) die(`cannot run ${program}: ${result.error.message}`);
    if (result.status !== 0) die(`${program} ${args.join(" ")} failed (exit ${result.status})`);
}

// npm ci installs exactly package-lock.json; only when the package is not there yet.
function ensurePyodide(version) {
    const dir = path.join(HERE, "node_modules", `pyodide-${version}`);
    if (!fs.existsSync(path.join(dir, "pyodide.mjs"))) {
        process.stderr.write(`run.mjs: node_modules incomplete, running npm ci in ${HERE}\n`);
        run("npm", ["ci", "--no-audit", "--no-fund"], HERE);
    }
    return dir;
}

// The wheels for one Python version, downloaded once per content of requirements.txt (a
// stamp file records its sha256, so editing the pins downloads again).
function ensureWheels(pythonVersion) {
    const requirements = path.join(HERE, "requirements.txt");
    const digest = createHash("sha256").update(fs.readFileSync(requirements)).digest("hex");
    const dir = path.join(HERE, "wheels", `py${pythonVersion}`);
    const stamp = path.join(dir, ".requirements.sha256");
    if (!fs.existsSync(stamp) || fs.readFileSync(stamp, "utf8") !== digest) {
        fs.rmSync(dir, { recursive: true, force: true });
        process.stderr.write(`run.mjs: downloading the test wheels for Python ${pythonVersion}\n`);
        run(PYTHON, ["-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                     "--python-version", pythonVersion, "--platform", "any",
                     "--implementation", "py", "--abi", "none", "--only-binary=:all:",
                     "--require-hashes", "-r", requirements, "-d", dir], HERE);
        fs.writeFileSync(stamp, digest);
    }
    return fs.readdirSync(dir).filter((f) => f.endsWith(".whl")).map((f) => path.join(dir, f));
}

// Pyodide reads its own files and local wheels from disk in Node; anything that reaches for
// fetch() would be a download (a CDN package, PyPI), which this harness forbids.
function forbidNetwork() {
    const realFetch = globalThis.fetch;
    globalThis.fetch = async (resource, options) => {
        const url = String(resource instanceof Request ? resource.url : resource);
        if (url.startsWith("file:")) return realFetch(resource, options);
        throw new Error(`run.mjs: network access refused (offline harness): ${url}`);
    };
}

const SETUP = `
import os, sys
os.chdir("/repo")
sys.path.insert(0, "/repo")
sys.dont_write_bytecode = True     # leave no Pyodide .pyc files in the checkout
# hypothesis keeps its example database in Pyodide's in-memory file system, not the checkout
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = "/tmp/hypothesis"
# CI's rule holds inside too: a test that skips for a missing install fails (tests/conftest.py)
os.environ["VMKIT_REQUIRE_TOOLS"] = REQUIRE_TOOLS

def exit_status(exit):
    """The process status a SystemExit stands for, as CPython computes it."""
    if exit.code is None or isinstance(exit.code, int):
        return exit.code or 0
    print(exit.code, file=sys.stderr)
    return 1
`;

// --capture=sys: pytest's default fd capture breaks at teardown on Pyodide 0.27.
// -p no:cacheprovider: the host's pytest owns .pytest_cache in the checkout.
const RUN_TESTS = `
import json, time, pytest

class Count:
    """Outcome counts and skip reasons, for the caller to check (not only the exit status)."""
    def pytest_terminal_summary(self, terminalreporter):
        self.stats = {k: len(v) for k, v in terminalreporter.stats.items() if k}
        reasons = {}
        for report in terminalreporter.stats.get("skipped", []):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
            reasons[reason] = reasons.get(reason, 0) + 1
        self.stats["skip_reasons"] = reasons

count = Count()
start = time.perf_counter()
status = int(pytest.main(["--capture=sys", "-p", "no:cacheprovider", *ARGS], plugins=[count]))
result = {"status": status, "seconds": round(time.perf_counter() - start, 1),
          "python": sys.version.split()[0], **getattr(count, "stats", {})}
print("VMKIT-PYODIDE-RESULT " + json.dumps(result))
status
`;

// SystemExit is caught here: escaping runPythonAsync it would crash Node with a JS stack.
const RUN_VMKIT = `
from vmkit.cli import main
sys.argv = ["vmkit", *ARGS]
try:
    status = int(main(ARGS) or 0)
except SystemExit as exit:           # argparse on bad arguments
    status = exit_status(exit)
status
`;

const RUN_PYTHON = `
from pyodide.code import eval_code_async
try:
    await eval_code_async(ARGS[1], {"__name__": "__main__"})
    status = 0
except SystemExit as exit:
    status = exit_status(exit)
status
`;

async function main() {
    const pkg = JSON.parse(fs.readFileSync(path.join(HERE, "package.json"), "utf8"));
    const { version, command, args } = parseArgs(process.argv.slice(2), pkg);
    const dir = ensurePyodide(version);
    const lock = JSON.parse(fs.readFileSync(path.join(dir, "pyodide-lock.json"), "utf8"));
    const pythonVersion = lock.info.python.split(".").slice(0, 2).join(".");
    const wheels = command === "test" ? ensureWheels(pythonVersion) : [];

    forbidNetwork();
    const { loadPyodide } = await import(pathToFileURL(path.join(dir, "pyodide.mjs")).href);
    const started = performance.now();
    const pyodide = await loadPyodide({ indexURL: dir + path.sep });
    process.stderr.write(`run.mjs: Pyodide ${version} (Python ${lock.info.python}) loaded in `
                         + `${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    pyodide.mountNodeFS("/repo", REPO);
    if (wheels.length) await pyodide.loadPackage(wheels, { messageCallback: () => {} });

    pyodide.globals.set("ARGS", pyodide.toPy(args));
    pyodide.globals.set("REQUIRE_TOOLS", process.env.VMKIT_REQUIRE_TOOLS || "");
    await pyodide.runPythonAsync(SETUP);
    const code = { test: RUN_TESTS, vmkit: RUN_VMKIT, python: RUN_PYTHON }[command];
    const status = await pyodide.runPythonAsync(code);
    process.exitCode = typeof status === "number" ? status : 0;
}

// A Python exception prints its Python traceback (as CPython would), not the JS stack around it.
main().catch((error) => {
    if (error.constructor.name !== "PythonError") die(error.stack || String(error));
    process.stderr.write(error.message);
    process.exit(1);
});
