"""Shared test helpers: external tools (GNU binutils, QEMU) skip when missing, fail when required.

`.ci/run` installs the tools and sets VMKIT_REQUIRE_TOOLS=1, so CI never passes by skipping.
"""

import contextlib
import os
import shutil
import signal
import sys

import pytest

REQUIRE_TOOLS = os.environ.get("VMKIT_REQUIRE_TOOLS") == "1"


def need_tool(name: str) -> str:
    """Path of the external program `name`; skip the test (or fail, in CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: see .ci/run)"
        if REQUIRE_TOOLS:
            pytest.fail(message + " and VMKIT_REQUIRE_TOOLS=1")
        pytest.skip(message)
    return path


@pytest.fixture
def gnu_as():
    return need_tool("riscv64-unknown-elf-as")


@pytest.fixture
def gnu_objdump():
    return need_tool("riscv64-unknown-elf-objdump")


# --- Pyodide ---------------------------------------------------------------------------------
# tests/test_pyodide.py runs this suite inside Pyodide (wasm/node/run.mjs). No process can be
# started there, so external tools are absent by nature, not for want of an install: tests
# that need one skip there whatever VMKIT_REQUIRE_TOOLS says, and say why.
IN_PYODIDE = sys.platform == "emscripten"
NO_PROCESSES = "Pyodide cannot start processes"
no_pyodide = pytest.mark.skipif(IN_PYODIDE, reason=NO_PROCESSES)

if IN_PYODIDE:
    def need_tool(name: str) -> str:    # replaces the host version above
        pytest.skip(f"{name}: {NO_PROCESSES}")

# The tests of what is built around the core (the browser site, Binder, this Pyodide harness)
# drive a browser, virtual environments and Node from the host: not collected inside Pyodide.
collect_ignore = ["test_browser.py", "test_binder.py", "test_pyodide.py"] if IN_PYODIDE else []


# --- a guest that hangs fails its test -------------------------------------------------------

class Runaway(BaseException):
    """A run took far longer than its budget allows. A BaseException: the run loop turns an
    Exception raised inside it into an "internal error" stop, which would hide the hang."""


@contextlib.contextmanager
def watchdog(seconds):
    """A wall-clock bound on a run, for a guest that hangs inside one entry into it. A no-op
    where there are no timers (Pyodide), where the tests' other bounds must do; vmkit itself
    uses no signals, only the tests do."""
    if IN_PYODIDE or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise Runaway(f"the run took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- the quick loop --------------------------------------------------------------------------
# `python3 -m pytest -m "not slow"` leaves out what builds or starts a whole environment (the
# Pyodide suites under Node, a fresh Binder venv, the JupyterLite site in Chromium): minutes each.
SLOW_FILES = {"test_pyodide.py", "test_binder.py", "test_browser.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
