"""README.md's examples work as written: the bare-metal program and the guest are taken out of
the README's code blocks and run, the `console` blocks' commands are run and their output
compared, and the memory map it shows is the machine's."""

import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_tool, no_pyodide
from corpus import QEMU_ARGS, build_gnu

pytestmark = no_pyodide    # the examples run as `vmkit` processes

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def asm_blocks():
    """{file name: source} of every ```asm block; its first line is `# NAME: what it does`."""
    blocks = {}
    for block in re.findall(r"^```asm\n(.*?)^```", README, re.S | re.M):
        name = re.match(r"# (\S+\.s):", block).group(1)
        blocks[name] = block
    return blocks


def console_blocks():
    """[(command, expected stdout)] from every ```console block (`$ ` starts a command)."""
    steps = []
    for block in re.findall(r"^```console\n(.*?)^```", README, re.S | re.M):
        for chunk in block.split("$ ")[1:]:
            command, _, output = chunk.partition("\n")
            steps.append((command, output))
    return steps


def vmkit(*args, cwd):
    return subprocess.run([sys.executable, "-m", "vmkit", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def examples(tmp_path):
    for name, source in asm_blocks().items():
        (tmp_path / name).write_text(source)
    return tmp_path


def test_the_readme_has_both_examples_of_about_ten_lines():
    blocks = asm_blocks()
    assert set(blocks) == {"hello.s", "guest.s"}
    assert all(len(source.splitlines()) <= 16 for source in blocks.values())
    assert len(console_blocks()) >= 2


@pytest.mark.parametrize("command, output", console_blocks(),
                         ids=[command for command, _ in console_blocks()])
def test_console_blocks_print_what_the_readme_shows(examples, command, output):
    argv = shlex.split(command)
    assert argv[0] == "vmkit"
    result = vmkit(*argv[1:], cwd=examples)
    assert result.returncode == 0, result.stderr
    assert result.stdout == output


def test_bare_metal_example_ends_through_the_finisher(examples):
    hello = examples / "hello.s"
    result = vmkit("run", "hello.s", "--max-insns", "100000", cwd=examples)
    assert (result.stdout, result.returncode) == ("Hello from bare metal\n", 0)
    # The README's fail encoding, code << 16 | 0x3333, gives exit status `code`.
    hello.write_text(hello.read_text().replace("0x5555 ", "(7 << 16) | 0x3333 "))
    assert vmkit("run", "hello.s", "--max-insns", "100000", cwd=examples).returncode == 7


def test_bare_metal_example_runs_on_qemu_as_on_vmkit(examples):
    # Independent of vmkit: GNU as + ld build it, QEMU's virt board runs it.
    need_tool("riscv64-unknown-elf-as")
    qemu = need_tool("qemu-system-riscv32")
    elf = build_gnu(examples / "hello.s", examples)
    result = subprocess.run([qemu, *QEMU_ARGS, str(elf)], stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=30)
    assert (result.stdout, result.returncode) == (b"Hello from bare metal\n", 0)


@pytest.mark.parametrize("engine", ["native", "emulate", "trap", "bt", "pv", "hw"])
def test_guest_example_runs_under_every_engine(examples, engine):
    from vmkit.vmm.engines import ENGINES
    assert engine in ENGINES and len(ENGINES) == 6
    result = vmkit("run", "--guest", "guest.s", "--engine", engine, "--stats", cwd=examples)
    assert (result.stdout, result.returncode) == ("Hello from a guest\n", 0)
    # 19 characters: one SBI call each, and one for the shutdown. Where the guest's
    # ecall leaves the hardware (not emulate, not bt's translated code), each is an exit.
    calls = len("Hello from a guest\n") + 1
    exits = re.search(r"^exits (.*)$", result.stderr, re.M).group(1)
    assert exits == ("none" if engine in ("emulate", "bt") else f"sbi={calls}")


def test_guest_example_reports_failure_through_srst(examples):
    guest = examples / "guest.s"
    source = guest.read_text()
    assert source.count("li    a1, 0\n") == 1
    guest.write_text(source.replace("li    a1, 0\n", "li    a1, 1\n"))      # system failure
    result = vmkit("run", "--guest", "guest.s", "--engine", "trap", cwd=examples)
    assert result.returncode == 1 and result.stdout == "Hello from a guest\n"


def test_memory_map_is_the_machines():
    from vmkit.hw.devices import UART0_IRQ, VIRT_MEMORY_MAP
    from vmkit.hw.machine import Machine
    from vmkit.vmm.vm import GUEST_RAM, GUEST_UART, VirtualMachine
    rows = {}
    for line in README.splitlines():
        match = re.match(r"\| `0x([0-9A-F_]+)` \| ([^|]+) \| ([^|:(;]+)", line)
        if match:
            rows[match.group(3).strip()] = (int(match.group(1), 16), match.group(2).strip())
    size = lambda n: f"{n >> 20} MiB" if n >= 1 << 20 else \
        f"{n >> 10} KiB" if n >= 1 << 10 else f"{n} B"
    for device, name in (("sifive_test finisher", "test"), ("CLINT", "clint"),
                         ("PLIC", "plic"), ("NS16550A UART", "uart0")):
        assert rows[device] == (VIRT_MEMORY_MAP[name][0], size(VIRT_MEMORY_MAP[name][1]))
    bus = Machine().bus
    bare_ram = bus.ram_end - bus.ram_base
    guest_ram = inspect.signature(VirtualMachine).parameters["ram_size"].default
    assert rows["RAM"] == (VIRT_MEMORY_MAP["dram"][0],
                           f"{size(bare_ram)} / {size(guest_ram)}")
    assert GUEST_RAM == VIRT_MEMORY_MAP["dram"][0] and GUEST_UART == VIRT_MEMORY_MAP["uart0"][0]
    assert f"the UART is source {UART0_IRQ}" in README


ROOT = Path(__file__).resolve().parent.parent
TOP = ("vmkit", "tests", "docs", "wasm", "binder", "notebooks", "widgets", "benchmarks", ".ci")


@pytest.mark.parametrize("document", ["README.md", "docs/ARCHITECTURE.md", "LICENSE"])
def test_documents_point_only_inside_the_repository(document):
    text = (ROOT / document).read_text()
    assert "../" not in text and "DESIGN" not in text and "ANCHORS" not in text
    links = re.findall(r"\]\(([^)#]+)\)", text)
    paths = [p for p in re.findall(r"`([\w.][\w./-]*)`", text) if p.split("/")[0] in TOP]
    base = (ROOT / document).parent
    for link in links:
        if "://" not in link:
            assert (base / link).exists(), link
    for path in paths:       # wasm/_output/ and the like are built, not committed
        assert (ROOT / path.rstrip("/")).exists() or "/_" in path, path
    if document == "README.md":
        assert "docs/ARCHITECTURE.md" in links and (ROOT / "LICENSE").is_file()


def test_readme_lists_the_registered_engines():
    from vmkit.vmm.engines import ENGINES
    listed = re.search(r"E is one of\n.*?(native, [a-z, ]+) \(default hw\)", README).group(1)
    assert listed.split(", ") == list(ENGINES)
