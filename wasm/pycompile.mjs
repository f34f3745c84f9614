// pycompile.mjs: add bytecode to the site's wheels and to Pyodide's standard library, compiled
// by the very Python that runs them.
//
//   node wasm/pycompile.mjs PYODIDE_DIR FOLDER ARCHIVE...      (run by wasm/build.py)
//
// Pyodide imports modules from their .py sources and, its file system living in memory, keeps
// no bytecode from one page load to the next: every start compiles the standard library's
// modules, IPython, vmkit, ... again, about half the CPU time of their import. So each module
// gets its .pyc, compiled here inside the same Pyodide (under Node.js), so the bytecode is
// exactly for its Python: in a wheel as __pycache__/<name>.cpython-3XY.pyc, in
// python_stdlib.zip beside the .py (where zipimport looks). They are "unchecked hash" pycs
// (PEP 552), valid whatever the file times after unpacking; the .py sources stay, for
// tracebacks. ARCHIVEs are file names in FOLDER, rewritten in place.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [core, folder, ...archives] = process.argv.slice(2);
if (!core || !folder) {
    process.stderr.write("usage: node wasm/pycompile.mjs PYODIDE_DIR FOLDER ARCHIVE...\n");
    process.exit(2);
}
const { loadPyodide } = await import(pathToFileURL(path.join(core, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: path.resolve(core) + "/" });
pyodide.FS.mkdirTree("/site");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: path.resolve(folder) }, "/site");
pyodide.globals.set("archives", pyodide.toPy(archives));
pyodide.runPython(`
import importlib.util, io, sys, sysconfig, warnings, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

warnings.simplefilter("ignore")                     # SyntaxWarnings of third-party code
tag = sys.implementation.cache_tag                  # e.g. cpython-312
site = sysconfig.get_path("purelib")                # where a wheel's modules are installed
stdlib = next(p for p in sys.path if p.endswith(".zip"))    # where python_stdlib.zip is


def where(archive, member):
    """(the module's path once installed, the member name of its .pyc)."""
    if archive.endswith(".whl"):
        folder, _, name = member.rpartition("/")
        return f"{site}/{member}", f"{folder}/__pycache__/{name[:-3]}.{tag}.pyc".lstrip("/")
    return f"{stdlib}/{member}", member[:-3] + ".pyc"


for archive in archives:
    path = f"/site/{archive}"
    with zipfile.ZipFile(path) as z:
        members = [(info, z.read(info)) for info in z.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in members:
            z.writestr(info, data)
            if not info.filename.endswith(".py") or ".dist-info/" in info.filename:
                continue
            filename, pyc_name = where(archive, info.filename)
            try:
                code = compile(data, filename, "exec", dont_inherit=True)
            except SyntaxError:
                continue                              # e.g. a py2-only test file: no bytecode
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
            member = zipfile.ZipInfo(pyc_name, date_time=info.date_time)
            member.external_attr = info.external_attr
            member.compress_type = zipfile.ZIP_DEFLATED       # a ZipInfo defaults to stored
            z.writestr(member, bytes(pyc))
    with open(path, "wb") as f:
        f.write(out.getvalue())
`);
