"""Shared test helpers: external tools (GNU binutils, QEMU) skip when missing, fail when required.

`.ci/run` installs the tools and sets VMKIT_REQUIRE_TOOLS=1, so CI never passes by skipping.
"""

import os
import shutil

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
