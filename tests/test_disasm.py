"""vmkit.disasm against GNU objdump 2.40, word by word.

An assembly file is generated from the instruction table itself: every row (aliases included)
with several operand values per field (x0, the extreme immediates, every CSR in the table,
every fence set). GNU as assembles it, which also checks that vmkit's encoder produces the
word GNU as produces; objdump disassembles it, and vmkit must print exactly the same text.
A few thousand seeded random words (written with `.insn`) check the decoder's corners.
"""

import random
import re
import subprocess
from pathlib import Path

import pytest

from conftest import need_tool
from vmkit.disasm import Disassembler, disassemble, disassemble_word
from vmkit.elf import ElfSection, Symbol, load_elf_file, read_elf, write_elf
from vmkit.isa import ABI_NAMES, CSR_NUMBERS, CSRS, INSTRUCTIONS, csr_name, encode
from vmkit.isa.fields import FIELDS, fence_set_text

DATA = Path(__file__).parent / "data" / "elf"
MARCH = ["-march=rv32imah_zicsr_zifencei", "-mabi=ilp32", "-mno-relax"]

# Values per operand field: the edges of each range and a few ordinary ones.
REGS = (0, 1, 2, 10, 31)
VALUES = {
    "d": REGS, "s": REGS[::-1], "t": (10, 0, 31, 1, 2),
    "j": (-2048, -1, 0, 1, 2047), "o": (2047, -2048, 0, 4, -1), "q": (-2048, 2047, 8, 0, -4),
    "p": (-4096, -2, 0, 2, 4094), "a": (-(1 << 20), -2, 0, 2, (1 << 20) - 2),
    "u": (0, 1, 0x80000, 0xFFFFF, 0x12345), ">": (0, 1, 31, 3),
    "Z": (0, 1, 31, 5),
    # Every CSR in the table plus numbers it does not name (objdump prints those in hex).
    "E": tuple(c.number for c in CSRS) + (0x7C0, 0xFFF, 0x000, 0x5C0),
    "P": tuple(range(16)), "Q": tuple(range(15, -1, -1)),
}


def operand_text(letter, value):
    """How GNU as is given an operand (the assembler's syntax, not objdump's)."""
    kind = FIELDS[letter].kind
    if kind == "reg":
        return ABI_NAMES[value]
    if letter in "pa":
        return f".{value:+d}"                     # pc-relative target, resolved by as itself
    if letter == "u":
        return hex(value)
    if kind == "csr":
        return csr_name(value, "1.11")    # hex for names newer than 1.11 (as would warn)
    if kind == "fence":
        return fence_set_text(value)
    return str(value)


def table_cases():
    """(assembly line, expected word) for every row, covering every value listed above."""
    cases = []
    for row in INSTRUCTIONS:
        letters = row.fields()
        count = max([len(VALUES[c]) for c in letters], default=1)
        for i in range(count):
            ops = {c: VALUES[c][i % len(VALUES[c])] for c in letters}
            word = encode(row, ops)
            if "P" in ops and (ops["P"] == 0 or ops["Q"] == 0):
                line = f".insn 0x{word:08x}"           # as has no spelling for an empty set
            else:
                text = "".join(operand_text(c, ops[c]) if c in FIELDS else c
                               for c in row.operands)
                line = f"{row.name} {text}".strip()
            cases.append((line, word))
    return cases


def random_words(count, seed=2026):
    """32-bit instruction words: three in four with one of vmkit's major opcodes (so most
    decode), the rest anything of 32-bit length (bits 1:0 = 11, bits 4:2 != 111)."""
    rng = random.Random(seed)
    opcodes = sorted({row.match & 0x7F for row in INSTRUCTIONS})
    words = []
    for i in range(count):
        word = rng.getrandbits(32)
        if i % 4:
            word = word & ~0x7F | rng.choice(opcodes)
        else:
            word |= 3
            if (word >> 2) & 7 == 7:
                word ^= 4
        words.append(word)
    return words


def objdump_lines(tmp_path, gnu_as, gnu_objdump, lines, *options):
    """[(address, word, text)] that objdump prints for the assembled `lines`."""
    src, obj = tmp_path / "t.s", tmp_path / "t.o"
    src.write_text(".option norvc\n" + "\n".join(lines) + "\n")
    result = subprocess.run([gnu_as, *MARCH, "-o", str(obj), str(src)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not result.stderr, result.stderr[:2000]
    out = subprocess.run([gnu_objdump, "-d", *options, str(obj)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return [(int(a, 16), int(w, 16), text) for a, w, text in
            re.findall(r"^\s*([0-9a-f]+):\t([0-9a-f]{8}) +\t(.*)$", out, re.M)]


def normalise(text):
    return " ".join(text.split())


def mismatches(listing, priv_spec="1.11"):
    """Lines where vmkit differs from objdump. In a .o objdump names addresses after the
    section symbol .text at 0, so that is the symbol table vmkit is given.

    objdump remembers lui/auipc values until a later instruction uses the register as a base
    (``# addr`` comments), so the words go through one session, as they do in objdump; where
    no such value is pending the one-shot disassemble_word must say the same."""
    bad = []
    session = Disassembler({0: ".text"}, priv_spec)
    for addr, word, text in listing:
        pending = any(v is not None for v in session.hi_addr)
        mine = session.word(word, addr)
        if not pending:
            assert disassemble_word(word, addr, {0: ".text"}, priv_spec) == mine
        if normalise(mine) != normalise(text):
            bad.append(f"{word:08x}: objdump {text!r} vmkit {mine!r}")
    return bad


@pytest.fixture(scope="module")
def table_listing(tmp_path_factory, gnu_as_path, gnu_objdump_path):
    cases = table_cases()
    tmp = tmp_path_factory.mktemp("table")
    listing = objdump_lines(tmp, gnu_as_path, gnu_objdump_path, [line for line, _ in cases])
    return cases, listing


# Module-scoped twins of conftest's gnu_as/gnu_objdump (same skip/fail rule), so the big
# listing is built once.
@pytest.fixture(scope="module")
def gnu_as_path():
    return need_tool("riscv64-unknown-elf-as")


@pytest.fixture(scope="module")
def gnu_objdump_path():
    return need_tool("riscv64-unknown-elf-objdump")


def test_every_row_is_exercised():
    # Guards the generator: a table row with no case would escape the differential test.
    lines = {line.split()[0] for line, _ in table_cases()}
    assert {row.name for row in INSTRUCTIONS} <= lines | {".insn"}
    assert len(table_cases()) > 2000


def test_gnu_as_encodes_like_the_table(table_listing):
    cases, listing = table_listing
    assert len(listing) == len(cases)
    wrong = [f"{line}: as {word:08x}, vmkit {expected:08x}"
             for (line, expected), (_, word, _) in zip(cases, listing) if word != expected]
    assert not wrong, "\n".join(wrong[:20])


def test_every_table_row_disassembles_like_objdump(table_listing):
    _, listing = table_listing
    bad = mismatches(listing)
    assert not bad, f"{len(bad)} differ:\n" + "\n".join(bad[:30])


@pytest.mark.parametrize("spec", ["1.11", "1.12"])
def test_every_csr_number_is_named_like_objdump(tmp_path, gnu_as_path, gnu_objdump_path, spec):
    # All 4096 numbers, so a CSR objdump names and the table lacks cannot hide.
    lines = [f".insn 0x{number << 20 | 0x2573:08x}" for number in range(4096)]   # csrr a0,N
    listing = objdump_lines(tmp_path, gnu_as_path, gnu_objdump_path, lines,
                            "-M", f"priv-spec={spec}")
    assert len(listing) == 4096
    bad = mismatches(listing, spec)
    assert not bad, "\n".join(bad[:30])


def test_priv_spec_changes_csr_names():
    # Sanity: 1.12 really names a CSR that 1.11 prints as a number (menvcfg, 0x30a), and
    # 1.12 is the default, as objdump's for code that records no spec.
    assert disassemble_word(0x30A02573, priv_spec="1.11") == "csrr\ta0,0x30a"
    assert disassemble_word(0x30A02573) == "csrr\ta0,menvcfg"
    assert disassemble_word(0x31002573) == "csrr\ta0,mstatush"


def test_random_words_disassemble_like_objdump(tmp_path, gnu_as_path, gnu_objdump_path):
    words = random_words(5000)
    # A file without CSR instructions gets no priv-spec attribute from as, and objdump then
    # assumes the newest spec; name the spec vmkit defaults to.
    listing = objdump_lines(tmp_path, gnu_as_path, gnu_objdump_path,
                            [f".insn 0x{w:08x}" for w in words], "-M", "priv-spec=1.11")
    assert [w for _, w, _ in listing] == words
    # Known, deliberate difference: objdump decodes 6-bit shift amounts even for RV32, where
    # shamt[5] = 1 is reserved (the hart raises illegal instruction), so vmkit shows .4byte.
    rv64_shifts = [(a, w, t) for a, w, t in listing
                   if w >> 25 & 1 and (w & 0xFC00707F in (0x1013, 0x5013, 0x40005013))]
    for _, word, text in rv64_shifts:
        assert re.fullmatch(r"(sll|srl|sra)\t\w+,\w+,0x(2|3)[0-9a-f]", text), text
        assert disassemble_word(word) == f".4byte\t0x{word:x}"
    bad = mismatches([line for line in listing if line not in rv64_shifts])
    assert not bad, f"{len(bad)} differ:\n" + "\n".join(bad[:30])
    # The sample must exercise real instructions, not only undecodable words.
    assert sum(not text.startswith(".4byte") for _, _, text in listing) > 2000


# --- whole listings ----------------------------------------------------------------------------

def objdump_listing(gnu_objdump, path, *options):
    """objdump -d from the first "Disassembly of section" on (the file-name banner differs)."""
    out = subprocess.run([gnu_objdump, "-d", *options, str(path)], capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stderr == ""
    return out.stdout[out.stdout.index("Disassembly of section"):]


@pytest.mark.parametrize("sources", [["listing.S"], ["prog.c", "start.s"]])
def test_listing_of_a_linked_program_matches_objdump(tmp_path, gnu_objdump_path, sources):
    gcc = need_tool("riscv64-unknown-elf-gcc")
    elf = tmp_path / "p.elf"
    subprocess.run([gcc, "-march=rv32ima_zicsr", "-mabi=ilp32", "-nostdlib", "-static", "-O1",
                    "-Wl,-Ttext=0x80000000", "-o", str(elf), *(str(DATA / s) for s in sources)],
                   check=True, timeout=120)
    assert disassemble(load_elf_file(elf)) == objdump_listing(gnu_objdump_path, elf)


def test_listing_of_a_written_elf_matches_objdump(tmp_path, gnu_objdump_path):
    def word(name, operands="", **ops):
        row = next(r for r in INSTRUCTIONS if r.name == name and r.operands == operands)
        return encode(row, ops).to_bytes(4, "little")

    code = b"".join([
        word("auipc", "d,u", d=10, u=0), word("addi", "d,s,j", d=10, s=10, j=0x40),  # la a0
        word("jal", "d,a", d=1, a=12), word("csrrs", "d,E,s", d=11, E=0x300, s=0),
        word("ecall"),
        word("lw", "d,o(s)", d=5, o=8, s=3),                    # gp-relative: needs gp
        word("beq", "s,t,p", s=5, t=0, p=-4), word("jalr", "d,o(s)", d=0, o=0, s=1),
    ])
    text = ElfSection(".text", 0x80000000, code, len(code))
    data = ElfSection(".data", 0x80000040, bytes(8), 8, flags="aw")
    elf = tmp_path / "w.elf"
    elf.write_bytes(write_elf([text, data], [
        Symbol("_start", 0x80000000, section=".text", type="func"),
        Symbol("helper", 0x80000014, binding="local", section=".text"),
        Symbol("other", 0x80000014, section=".text", type="func"),   # wins: global func
        Symbol("buffer", 0x80000040, 8, section=".data", type="object"),
        Symbol("__global_pointer$", 0x80000840),
    ], 0x80000000))
    # No .riscv.attributes in this file: objdump and vmkit both assume priv spec 1.12.
    expected = objdump_listing(gnu_objdump_path, elf)
    listing = disassemble(read_elf(elf.read_bytes()))
    assert listing == expected
    # The features this listing is meant to exercise really occur in it.
    for seen in ("80000014 <other>:", "add\ta0,a0,64 # 80000040 <buffer>",
                 "# 80000848 <__global_pointer$+0x8>", "csrr\ta1,mstatus"):
        assert seen in listing


# Runs of zeros (objdump: "\t..." for 8 or more zero bytes up to the next symbol, or fewer
# than 3 at its end; single zero words are shown) and bytes that are not 32-bit instructions
# (16-bit parcels, 48/64/80-bit lengths), where vmkit must print what objdump prints.
ZEROS_SOURCE = """
    .text
    .globl _start
_start:
    nop
    .word 0
    nop
    .word 0, 0
    nop
    .word 0, 0, 0
    nop
    .half 0
    .half 1
    .word 0
    nop
    .word 0, 0
mid:
    .word 0, 0, 0
    nop
    .word 0x100, 0, 0
    .word 0
one_zero_word:
    nop
    .word 0
two_zero_words:
    nop
    .word 0x12345678
    .word 0x0000001f, 0
    .word 0x0000003f, 0x11111111
    .word 0x0000007f, 0x22222222, 0x00003333
    .half 0x0013
    .word 0
    nop
    .word 0, 0
    .half 0                     # 10 zero bytes, then more: objdump skips whole words only
    .half 0x5678
    nop
    .word 0, 0
"""


# Code and odd-sized data mixed in .text: GNU's mapping symbols ($d, $x) then cut data items
# to 1, 2 or 4 bytes (.byte / .short / .word) and code may start at an odd address.
MIXED_SOURCE = """
    .text
_start:
    nop
    .word 0
    nop
    .align 4
    nop
    .asciz "ab"
    .balign 4
    nop
    .section .text.two, "ax"
    .word 5
    nop
    .byte 7
    .balign 4
    nop
"""


def _vmkit_elf(tmp_path, source):
    from vmkit.asm import assemble
    elf = tmp_path / "v.elf"
    elf.write_bytes(assemble(source).to_elf())
    return elf


def _gnu_elf(tmp_path, source, *march):
    gnu_as, ld = need_tool("riscv64-unknown-elf-as"), need_tool("riscv64-unknown-elf-ld")
    src, obj, elf = tmp_path / "g.s", tmp_path / "g.o", tmp_path / "g.elf"
    src.write_text(source)
    subprocess.run([gnu_as, *(march or MARCH), "-o", str(obj), str(src)], check=True,
                   capture_output=True)
    subprocess.run([ld, "-m", "elf32lriscv", "-Ttext=0x80000000", "-o", str(elf), str(obj)],
                   check=True, capture_output=True)
    return elf


@pytest.mark.parametrize("build", [_vmkit_elf, _gnu_elf], ids=["vmkit", "gnu"])
def test_zero_runs_and_short_parcels_match_objdump(tmp_path, gnu_objdump_path, build):
    elf = build(tmp_path, ZEROS_SOURCE)
    listing = disassemble(load_elf_file(elf))
    assert listing == objdump_listing(gnu_objdump_path, elf)
    assert listing.count("\t...\n") >= 5
    if build is _vmkit_elf:          # no mapping symbols: the data reads as instructions
        assert ".2byte\t0x0\n" in listing and ".8byte\t" in listing


@pytest.mark.parametrize("build", [_vmkit_elf, _gnu_elf], ids=["vmkit", "gnu"])
def test_code_mixed_with_data_matches_objdump(tmp_path, gnu_objdump_path, build):
    elf = build(tmp_path, MIXED_SOURCE)
    listing = disassemble(load_elf_file(elf))
    assert listing == objdump_listing(gnu_objdump_path, elf)
    if build is _gnu_elf:
        assert ".short\t0x6261" in listing and ".byte\t0x07" in listing


def test_zero_runs_without_objdump():
    # The rule worked out by hand. A zero word is two 16-bit parcels (low bits 00) shown as
    # .2byte; two zero words are 8 bytes: "...". Before a symbol the second parcel is a
    # run of 2 (< 3) zero bytes that ends at the symbol: "..." too.
    from vmkit.asm import assemble
    from vmkit.elf import read_elf
    image = read_elf(assemble("_start: nop\n.word 0\nnop\n.word 0, 0\nnop\n.word 0\n"
                              "b: nop\n.word 0, 0\n").to_elf())
    body = [line.split("\t", 2)[-1] for line in disassemble(image).splitlines() if "\t" in line]
    assert body == ["nop", ".2byte\t0x0", ".2byte\t0x0", "nop", "...", "nop",
                    ".2byte\t0x0", "...", "nop", "..."]


HIGH_HALVES = ("cycleh timeh instreth hpmcounter3h hpmcounter31h mstatush menvcfgh mseccfgh "
               "mcycleh minstreth mhpmcounter3h mhpmcounter31h henvcfgh htimedeltah "
               "stimecmph vstimecmph").split()


@pytest.mark.parametrize("build", [_vmkit_elf, _gnu_elf], ids=["vmkit", "gnu"])
def test_csr_names_by_default_match_objdump(tmp_path, gnu_objdump_path, build):
    # Every CSR number, and the RV32 high halves by name, in a file disassembled with no
    # -M option: the file's own .riscv.attributes decide (vmkit records 1.12, GNU as 1.11).
    lines = [f"csrr a0, {n}" for n in range(4096)] + [f"csrw {n}, a1" for n in HIGH_HALVES]
    source = ".option arch, +h\n.text\n_start:\n" + "\n".join(lines) + "\n"
    elf = build(tmp_path, source)
    listing = disassemble(load_elf_file(elf))
    assert listing == objdump_listing(gnu_objdump_path, elf)
    spec = "1.12" if build is _vmkit_elf else "1.11"
    assert load_elf_file(elf).attributes["priv_spec"] == spec
    for name in HIGH_HALVES:
        number = CSR_NUMBERS[name]
        assert f"csrw\t{csr_name(number, spec)},a1" in listing
        assert (f"csrw\t{name},a1" in listing) == (spec == "1.12" or name in NAMED_IN_1_11)


# High halves objdump 2.40 names under priv spec 1.11 as well (the rest are 1.12 names).
NAMED_IN_1_11 = set(HIGH_HALVES) - {"mstatush", "menvcfgh", "mseccfgh"}


def test_disassemble_word_without_symbols():
    # Forms checked against objdump above; here what the one-shot call adds on its own.
    assert disassemble_word(0xFE0712E3, 0x8000001C) == "bnez\ta4,80000000"
    assert disassemble_word(0xFE0712E3, 0x8000001C, {0x80000000: "main"}) == \
        "bnez\ta4,80000000 <main>"
    assert disassemble_word(0xFFC02683) == "lw\ta3,-4(zero) # fffffffc"
    assert disassemble_word(0x00000053) == ".4byte\t0x53"          # fadd.s: no F in vmkit


def test_known_gaps_against_objdump():
    # objdump 2.40 still names these retired/debug instructions; vmkit's ISA has none of
    # them (the hart raises illegal instruction), so they print as data.
    for word in (0x00200073, 0x7B200073, 0x10400073):               # uret, dret, sfence.vm
        assert disassemble_word(word) == f".4byte\t0x{word:x}"
