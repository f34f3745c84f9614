"""vmkit.elf: the writer checked by GNU readelf/objdump, the reader checked against readelf on a
GCC-linked program, and hostile input (broken headers, random mutations) giving ElfError."""

import re
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import need_tool
from vmkit.isa import BY_NAME, encode
from vmkit.elf import (ElfError, ElfImage, ElfSection, Segment, Symbol, load_elf_file, read_elf,
                       riscv_attributes, write_elf)

DATA = Path(__file__).parent / "data" / "elf"

TEXT = bytes.fromhex("13051000" "93052000" "73001000")      # li a0,1; li a1,2; ebreak
SECTIONS = [
    ElfSection(".text", 0x80000000, TEXT, len(TEXT)),
    ElfSection(".rodata", 0x8000000C, b"hi\0\0", 4, flags="a"),
    ElfSection(".data", 0x80001000, b"\1\2\3\4", 4, flags="aw"),
    ElfSection(".bss", 0x80001004, b"", 0x40, kind="nobits", flags="aw"),
    ElfSection(".tohost", 0x80002000, bytes(8), 8, flags="aw"),
]
SYMBOLS = [
    Symbol("_start", 0x80000000, section=".text", type="func"),
    Symbol("loop", 0x80000004, binding="local", section=".text"),
    Symbol("tohost", 0x80002000, 4, section=".tohost", type="object"),
    Symbol("fromhost", 0x80002004, 4, section=".tohost", type="object"),
    Symbol("UART", 0x10000000),                                  # absolute
]
# The segments write_elf must make, by its rule: contiguous sections with the same flags share
# a PT_LOAD, .bss only as a tail. .text and .rodata touch but differ in flags -> two segments;
# .data + .bss are contiguous with the same flags -> one segment with memsz 4 + 0x40.
SEGMENTS = [
    Segment(0x80000000, 0x80000000, TEXT, len(TEXT), "rx"),
    Segment(0x8000000C, 0x8000000C, b"hi\0\0", 4, "r"),
    Segment(0x80001000, 0x80001000, b"\1\2\3\4", 0x44, "rw"),
    Segment(0x80002000, 0x80002000, bytes(8), 8, "rw"),
]


@pytest.fixture(scope="module")
def written():
    return write_elf(SECTIONS, SYMBOLS, 0x80000000)


def run(*args):
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


# --- parsing readelf -W output ----------------------------------------------------------------

def readelf_sections(path):
    """{index: (name, type, addr, offset, size, flags)} from `readelf -S -W`."""
    out = run(need_tool("riscv64-unknown-elf-readelf"), "-S", "-W", str(path)).stdout
    rows = {}
    for m in re.finditer(r"^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]{8}) ([0-9a-f]{6}) "
                         r"([0-9a-f]{6}) [0-9a-f]{2}\s+([A-Za-z]*)\s", out, re.M):
        i, name, kind, addr, off, size, flags = m.groups()
        rows[int(i)] = (name, kind, int(addr, 16), int(off, 16), int(size, 16), flags)
    return rows


def readelf_loads(path):
    """[(vaddr, paddr, filesz, memsz, flags "rwx")] of the LOAD lines of `readelf -l -W`."""
    out = run(need_tool("riscv64-unknown-elf-readelf"), "-l", "-W", str(path)).stdout
    loads = []
    for m in re.finditer(r"^\s*LOAD\s+0x\S+ (0x\S+) (0x\S+) (0x\S+) (0x\S+) ([RWE ]{3}) ",
                         out, re.M):
        vaddr, paddr, filesz, memsz, flags = m.groups()
        text = "".join(c for c, f in (("r", "R"), ("w", "W"), ("x", "E")) if f in flags)
        loads.append((int(vaddr, 16), int(paddr, 16), int(filesz, 16), int(memsz, 16), text))
    return loads


def readelf_symbols(path):
    """[Symbol] from `readelf -s -W` (entry 0 dropped), section given by name."""
    sections = readelf_sections(path)
    out = run(need_tool("riscv64-unknown-elf-readelf"), "-s", "-W", str(path)).stdout
    symbols = []
    for m in re.finditer(r"^\s*(\d+): ([0-9a-f]{8})\s+(\S+) (\w+)\s+(\w+)\s+\w+\s+(\w+) ?(.*)$",
                         out, re.M):
        num, value, size, kind, bind, ndx, name = m.groups()
        if num == "0" or ndx == "UND":
            continue
        section = None if ndx == "ABS" else sections[int(ndx)][0]
        if kind == "SECTION":
            name = ""              # readelf shows the section's name; the symbol has none
        symbols.append(Symbol(name, int(value, 16), int(size, 0), bind.lower(), section,
                              kind.lower()))
    return symbols


# --- the writer ----------------------------------------------------------------------------------

def test_round_trip(written):
    image = read_elf(written, "w.elf")
    assert image.entry == 0x80000000
    assert image.segments == SEGMENTS
    assert image.sections == SECTIONS
    # Locals come first in .symtab (gABI), so compare as sets.
    assert set(image.symbol_list) == set(SYMBOLS)
    assert image.symbols == {s.name: s.value for s in SYMBOLS}
    assert image.symbol("tohost") == 0x80002000 and image.symbol("nothere") is None


def test_readelf_agrees_with_writer(written, tmp_path):
    path = tmp_path / "w.elf"
    path.write_bytes(written)
    readelf = need_tool("riscv64-unknown-elf-readelf")
    header = run(readelf, "-h", str(path))
    assert header.stderr == ""
    for expected in (r"Class:\s+ELF32$", r"Data:.*little endian$",
                     r"Type:\s+EXEC \(Executable file\)$", r"Machine:\s+RISC-V$",
                     r"Entry point address:\s+0x80000000$", r"Flags:\s+0x0$"):
        assert re.search(expected, header.stdout, re.M), expected
    sections = readelf_sections(path)
    assert [sections[i][0] for i in sorted(sections)] == (
        [""] + [s.name for s in SECTIONS] + [".symtab", ".strtab", ".shstrtab"])
    for i, s in enumerate(SECTIONS, 1):
        name, kind, addr, offset, size, flags = sections[i]
        assert (kind, addr, size) == ({"progbits": "PROGBITS", "nobits": "NOBITS"}[s.kind],
                                      s.addr, s.size)
        assert set(flags) == {{"a": "A", "w": "W", "x": "X"}[c] for c in s.flags}
        if s.kind == "progbits":
            assert written[offset:offset + size] == s.data
    assert readelf_loads(path) == [(g.vaddr, g.paddr, len(g.data), g.memsize, g.flags)
                                   for g in SEGMENTS]
    assert set(readelf_symbols(path)) == set(SYMBOLS)
    # -a runs every check readelf has; -d disassembles through the section headers.
    assert run(readelf, "-a", str(path)).stderr == ""
    dump = run(need_tool("riscv64-unknown-elf-objdump"), "-d", str(path))
    assert dump.stderr == ""
    assert re.search(r"80000004 <loop>:\n80000004:\s+00200593\s+li\s+a1,2", dump.stdout)


def test_segment_offsets_are_page_congruent(written):
    # readelf accepts a PT_LOAD only if p_offset == p_vaddr (mod p_align); check it directly.
    phoff, = struct.unpack_from("<I", written, 28)
    phnum, = struct.unpack_from("<H", written, 44)
    for i in range(phnum):
        _, offset, vaddr, _, _, _, _, align = struct.unpack_from("<8I", written, phoff + 32 * i)
        assert align == 0x1000 and offset % align == vaddr % align


@pytest.mark.parametrize("sections, symbols, message", [
    ([ElfSection(".a", 0x100, b"1234", 4), ElfSection(".b", 0x102, b"12", 2)], [], "overlap"),
    ([ElfSection(".a", 0x100, b"1234", 3)], [], "size 3 but 4 data bytes"),
    ([ElfSection(".a", 0x100, b"", 0), ElfSection(".a", 0x200, b"", 0)], [], "repeated"),
    ([ElfSection(".a", 0xFFFFFFFE, b"1234", 4)], [], "outside 32 bits"),
    ([ElfSection(".a", 0x100, b"", 0)], [Symbol("x", 0, section=".b")], "no section '.b'"),
    ([], [Symbol("x", 0, binding="public")], "bad binding"),
])
def test_writer_rejects_inconsistent_input(sections, symbols, message):
    with pytest.raises(ElfError, match=message):
        write_elf(sections, symbols, 0)


# --- the reader on a GCC-linked program ---------------------------------------------------------

@pytest.fixture(scope="module")
def gcc_elf(tmp_path_factory):
    out = tmp_path_factory.mktemp("gcc") / "x.elf"
    run(need_tool("riscv64-unknown-elf-gcc"), "-march=rv32ima_zicsr", "-mabi=ilp32",
        "-nostdlib", "-static", "-O1", "-Wl,-Ttext=0x80000000", "-o", str(out),
        str(DATA / "prog.c"), str(DATA / "start.s"))
    return out


def test_gcc_program_segments_match_readelf(gcc_elf):
    image = load_elf_file(gcc_elf)
    assert [(s.vaddr, s.paddr, len(s.data), s.memsize, s.flags) for s in image.segments] == \
        readelf_loads(gcc_elf)
    raw = gcc_elf.read_bytes()
    header = run(need_tool("riscv64-unknown-elf-readelf"), "-h", str(gcc_elf)).stdout
    assert image.entry == int(re.search(r"Entry point address:\s+(0x\w+)", header)[1], 16)
    # A segment's bytes are the file's bytes at its p_offset: find them where readelf says.
    text = next(s for s in image.sections if s.name == ".text")
    assert text.data in raw and any(text.data in s.data for s in image.segments)


def test_gcc_program_symbols_match_readelf(gcc_elf):
    image = load_elf_file(gcc_elf)
    assert image.symbol_list == readelf_symbols(gcc_elf)
    for name in ("_start", "main", "tohost", "fromhost", "counter", "table", "message"):
        assert image.symbols[name] == next(s.value for s in image.symbol_list if s.name == name)
    assert not any(name.startswith("$x") for name in image.symbols)   # mapping symbols
    sections = readelf_sections(gcc_elf)
    for s in image.sections:
        match = next(v for v in sections.values() if v[0] == s.name)
        assert (s.addr, s.size) == (match[2], match[4])


# --- hostile input -----------------------------------------------------------------------------

def patched(data, offset, fmt, value):
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def broken_inputs(valid):
    shoff, = struct.unpack_from("<I", valid, 32)
    phoff, = struct.unpack_from("<I", valid, 28)
    return [
        (b"", "empty file"),
        (valid[:3], r"truncated ELF header \(3 of 52 bytes\)"),
        (valid[:12], r"truncated ELF header \(12 of 52 bytes\)"),
        (valid[:51], r"truncated ELF header \(51 of 52 bytes\)"),
        (valid[:60], r"program header table: bytes 52..180 lie outside the file \(60 bytes\)"),
        (valid[:0x1004], "section header table: bytes 12488..12848"),
        (valid[:shoff + 20], "section header table: bytes"),
        (b"MZ\x90\x00" + bytes(100), r"not an ELF file \(bad magic\)"),
        (bytes(range(256)) * 4, "bad magic"),
        (patched(valid, 4, "B", 2), "64-bit ELF; vmkit runs RV32"),
        (patched(valid, 5, "B", 2), "big-endian"),
        (patched(valid, 18, "<H", 62), r"not a RISC-V ELF \(machine 62\)"),
        (patched(valid, 16, "<H", 1), "not an executable"),
        (patched(valid, 28, "<I", 0xFFFFFFF0), "program header table: bytes"),
        (patched(valid, 32, "<I", len(valid)), "section header table: bytes"),
        (patched(valid, 44, "<H", 0xFFFF), r"program header table: bytes 52..2097172 lie outside"),
        (patched(valid, 42, "<H", 56), "program header entry size 56"),
        (patched(valid, 50, "<H", 200), "section name table index 200"),
        (patched(valid, phoff + 4, "<I", 0x7FFFFFFF), "outside the file"),
        (patched(valid, phoff + 20, "<I", 0x40000001), "over the 16 MiB of guest RAM"),
        (patched(valid, phoff + 20, "<I", (16 << 20) + 1), "over the 16 MiB of guest RAM"),
        (patched(valid, phoff + 16, "<I", 0x100), "file size 256 > memory size"),
        (patched(valid, phoff + 32 + 8, "<I", 0x80000008), "segments overlap"),
        (patched(valid, phoff + 8, "<I", 0xFFFFFFF8), "wraps past 4 GiB"),
        (patched(valid, shoff + 40 + 16, "<I", 0x7FFFFFF0), "section .text: bytes 2147483632.."),
    ]


def test_broken_inputs_give_one_clear_error(written):
    for data, message in broken_inputs(written):
        with pytest.raises(ElfError, match=message) as info:
            read_elf(data, "bad.elf")
        text = str(info.value)
        assert text.startswith("bad.elf: ") and "\n" not in text


def test_unreadable_file(tmp_path):
    with pytest.raises(ElfError, match="missing.elf: cannot read"):
        load_elf_file(tmp_path / "missing.elf")
    with pytest.raises(ElfError, match="not a regular file"):
        load_elf_file(tmp_path)                              # a directory


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_elf_only_raises_elf_error(written, data):
    """Random byte changes and truncations of a valid file: a result or an ElfError, nothing
    else (no IndexError, struct.error, MemoryError, hang)."""
    mutated = bytearray(written)
    # Bias the mutations towards the headers, where they change the most.
    hot = [0, 28, 32, 42, 44, 46, 48, 50, 52, len(written) - 4 * 40]
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.one_of(st.integers(0, len(written) - 1),
                                 st.sampled_from(hot).flatmap(lambda h: st.integers(h, h + 40))))
        if at < len(mutated):
            mutated[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        mutated = mutated[:data.draw(st.integers(0, len(mutated)))]
    try:
        image = read_elf(bytes(mutated))
    except ElfError as e:
        assert "\n" not in str(e)
    else:
        assert isinstance(image, ElfImage)
        assert all(s.memsize <= 1 << 30 and len(s.data) <= s.memsize for s in image.segments)


def test_qemu_runs_a_written_elf(tmp_path):
    """QEMU's ELF loader accepts write_elf's output: the program stores to the virt board's
    test finisher (sifive_test at 0x100000), and QEMU exits with the code it wrote."""
    qemu = need_tool("qemu-system-riscv32")

    def word(name, **ops):
        return encode(BY_NAME[name][0], ops).to_bytes(4, "little")

    # lui t0,0x100; lui t1,0x73; addi t1,t1,0x333; sw t1,0(t0); j .
    # 0x73333 = exit code 7 << 16 | FINISHER_FAIL (0x3333): QEMU exits with status 7.
    code = (word("lui", d=5, u=0x100) + word("lui", d=6, u=0x73)
            + word("addi", d=6, s=6, j=0x333) + word("sw", t=6, q=0, s=5) + word("j", a=0))
    path = tmp_path / "exit7.elf"
    path.write_bytes(write_elf([ElfSection(".text", 0x80000000, code, len(code))],
                               [Symbol("_start", 0x80000000, section=".text")], 0x80000000))
    result = subprocess.run([qemu, "-M", "virt", "-bios", "none", "-nographic", "-kernel",
                             str(path)], capture_output=True, timeout=30)
    assert result.returncode == 7, result.stderr


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.binary(max_size=600))
def test_arbitrary_bytes_only_raise_elf_error(valid_ident, data):
    # With a valid e_ident the reader gets past the magic and must survive garbage headers.
    if valid_ident:
        data = b"\x7fELF\x01\x01\x01" + bytes(9) + data
    try:
        read_elf(data)
    except ElfError as e:
        assert "\n" not in str(e)


# --- .riscv.attributes --------------------------------------------------------------------------

# GNU as 2.40 -march=rv32imah_zicsr_zifencei on a source using csrr (priv spec 1.11 recorded):
# the section bytes as `readelf -x .riscv.attributes` dumps them.
GNU_ATTRIBUTES = bytes.fromhex(
    "414a000000726973637600014000000005"
    + b"rv32i2p1_m2p0_a2p1_h1p0_zicsr2p0_zifencei2p0_zmmul1p0".hex() + "0008010a0b")


def test_attributes_are_laid_out_as_gnu_as_writes_them():
    arch = "rv32i2p1_m2p0_a2p1_h1p0_zicsr2p0_zifencei2p0_zmmul1p0"
    assert riscv_attributes({5: arch, 8: 1, 10: 11}) == GNU_ATTRIBUTES


def test_attributes_read_back():
    data = write_elf(SECTIONS, SYMBOLS, 0x80000000, GNU_ATTRIBUTES)
    image = read_elf(data)
    assert image.attributes == {"arch": "rv32i2p1_m2p0_a2p1_h1p0_zicsr2p0_zifencei2p0_zmmul1p0",
                                "priv_spec": "1.11"}
    assert read_elf(write_elf(SECTIONS, SYMBOLS, 0x80000000)).attributes == {}
    # The program sections and symbols are where they were without the extra section.
    assert image.sections == read_elf(write_elf(SECTIONS, SYMBOLS, 0x80000000)).sections
    assert image.symbols["_start"] == 0x80000000


@pytest.mark.tool
def test_readelf_reads_the_attributes(tmp_path):
    readelf = need_tool("riscv64-unknown-elf-readelf")
    path = tmp_path / "a.elf"
    path.write_bytes(write_elf(SECTIONS, SYMBOLS, 0x80000000, riscv_attributes(
        {4: 16, 5: "rv32i2p1", 8: 1, 10: 12, 12: 3})))
    out = run(readelf, "-A", "-S", "-W", str(path)).stdout
    assert re.search(r"\.riscv\.attributes\s+RISCV_ATTRIBUTES\s+00000000", out)
    for line in ("Tag_RISCV_stack_align: 16-bytes", 'Tag_RISCV_arch: "rv32i2p1"',
                 "Tag_RISCV_priv_spec: 1", "Tag_RISCV_priv_spec_minor: 12",
                 "Tag_RISCV_priv_spec_revision: 3"):
        assert line in out
    assert read_elf(path.read_bytes()).attributes["priv_spec"] == "1.12.3"


def _attribute_section(body: bytes) -> bytes:
    """A well-framed .riscv.attributes whose Tag_file holds `body`."""
    file_tag = b"\x01" + (5 + len(body)).to_bytes(4, "little") + body
    return b"A" + (10 + len(file_tag)).to_bytes(4, "little") + b"riscv\0" + file_tag


@pytest.mark.parametrize("section, message", [
    (b"B" + GNU_ATTRIBUTES[1:], "unknown format"),
    (b"A\xff\0\0\0riscv\0", "bad subsection length"),
    (_attribute_section(b"\x08\x88"), "truncated number"),          # ULEB128 cut short
    (_attribute_section(b"\x05rv32"), "unterminated string"),        # no NUL
])
def test_broken_attributes_give_one_clear_error(section, message):
    with pytest.raises(ElfError, match=message):
        read_elf(write_elf(SECTIONS, SYMBOLS, 0x80000000, section))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_attributes_only_raise_elf_error(section):
    try:
        read_elf(write_elf(SECTIONS, SYMBOLS, 0x80000000, b"A" + section))
    except ElfError:
        pass
