"""vmkit.asm without external tools: the program it returns, includes, macros, conditionals,
the line map, broken inputs (each one clear error line), and two properties.

Byte-for-byte agreement with GNU as is tests/test_asm_gnu.py's job; the expected words here
are worked out by hand from the RISC-V encodings (Volume I, chapter 24) in the comments.
"""

import re
import struct

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vmkit.asm import AsmError, Program, assemble, assemble_file
from vmkit.elf import read_elf
from vmkit.isa import INSTRUCTIONS, decode, free_bits
from vmkit.isa.fields import PC_RELATIVE

BASE = 0x8000_0000


def words(prog, section=".text"):
    data = prog.section(section).data
    return list(struct.unpack(f"<{len(data) // 4}I", data))


# ---- the Program -------------------------------------------------------------------------

def test_program_layout_symbols_entry_and_image():
    prog = assemble("""
        .globl _start
        .equ   ANSWER, 42
        .text
    helper: ret
    _start: li a0, ANSWER
        .section .rodata
    msg: .asciz "hi"
        .data
    value: .word 7
        .bss
    buf: .zero 10
    """)
    assert isinstance(prog, Program)
    # .text at base: ret = jalr zero,0(ra) = 0x00008067; li a0,42 = addi a0,zero,42 =
    # imm 42 << 20 | rs1 0 | funct3 0 | rd 10 << 7 | 0x13 = 0x02a00513.
    assert prog.sections[0] == (".text", BASE, bytes.fromhex("67800000" "1305a002"))
    # Each kind starts on a 16-byte boundary after the previous one.
    assert [(s.name, s.address) for s in prog.sections] == [
        (".text", BASE), (".rodata", BASE + 0x10), (".data", BASE + 0x20)]
    assert prog.section(".rodata").data == b"hi\0"
    assert prog.bss == (BASE + 0x30, 10)
    assert prog.symbols == {"helper": BASE, "_start": BASE + 4, "ANSWER": 42, "msg": BASE + 0x10,
                            "value": BASE + 0x20, "buf": BASE + 0x30}
    assert prog.globals == {"_start"}
    assert prog.entry == BASE + 4
    assert prog.image() == [(BASE, prog.sections[0].data), (BASE + 0x10, b"hi\0"),
                            (BASE + 0x20, bytes([7, 0, 0, 0])), (BASE + 0x30, bytes(10))]


def test_entry_defaults_to_start_of_text_and_base_is_honoured():
    prog = assemble("nop\n", base=0x1000)
    assert prog.entry == 0x1000 and prog.section(".text").address == 0x1000


def test_line_map_points_every_item_at_its_source_line():
    prog = assemble("nop\n\n  li a0, 0x12345678\n.data\n.word 1, 2\n.ascii \"ab\"\n", "m.s")
    text, data = prog.section(".text").address, prog.section(".data").address
    # li with a 32-bit constant is two words (lui + addi), both from line 3.
    assert prog.line_map == {text: ("m.s", 1), text + 4: ("m.s", 3), text + 8: ("m.s", 3),
                             data: ("m.s", 5), data + 4: ("m.s", 5), data + 8: ("m.s", 6)}


def test_line_map_of_macro_and_include_lines():
    prog = assemble('.macro two\nnop\nnop\n.endm\n.include "inc.s"\ntwo\n', "main.s",
                    include={"inc.s": "ebreak\n"})
    # Included lines map to the included file; a macro's lines map to where it is used.
    assert sorted(prog.line_map.values()) == [("inc.s", 1), ("main.s", 6), ("main.s", 6)]


def test_to_elf_is_an_elf32_riscv_executable():
    prog = assemble(".globl _start\n_start: nop\n.data\nd: .word 5\n")
    elf = prog.to_elf()
    # gABI: e_ident = 7f 'E' 'L' 'F', class 1 (32-bit), data 1 (little-endian);
    # e_type 2 (EXEC), e_machine 243 (EM_RISCV), e_entry.
    assert elf[:6] == b"\x7fELF\x01\x01"
    e_type, e_machine, _, e_entry = struct.unpack_from("<HHII", elf, 16)
    assert (e_type, e_machine, e_entry) == (2, 243, BASE)
    from vmkit.elf import read_elf
    image = read_elf(elf)
    assert image.symbols["_start"] == BASE and image.symbols["d"] == prog.symbols["d"]


# ---- instructions, pseudo-instructions, expressions ------------------------------------

@pytest.mark.parametrize("source, expected", [
    # li: small constant is one addi; lui alone when the low 12 bits are 0; else lui + addi
    # with the upper part rounded up when bit 11 is set (0x800 = 0x1000 - 0x800).
    ("li a0, -1", [0xFFF00513]),
    ("li a0, 0x12345000", [0x12345537]),
    ("li a0, 0x800", [0x00001537, 0x80050513]),
    ("li a0, 0xffffffff", [0xFFF00513]),          # RV32: the same value as -1
    # la: auipc a0, 0 + addi a0, a0, 8 (the target is 8 bytes past the auipc).
    ("la a0, x\nx: nop", [0x00000517, 0x00850513, 0x00000013]),
    # call: auipc ra, 0 + jalr ra, 8(ra); tail uses t1 and jalr zero.
    ("call f\nf: nop", [0x00000097, 0x008080E7, 0x00000013]),
    ("tail f\nf: nop", [0x00000317, 0x00830067, 0x00000013]),
    # call rd, f: GNU as 2.40 takes t1 for the auipc whatever rd is (ra included), so rd
    # keeps no half-built address; jalr rd, 8(t1). @plt changes nothing without a PLT.
    ("call a0, f\nf: nop", [0x00000317, 0x00830567, 0x00000013]),
    ("call ra, f@plt\nf: nop", [0x00000317, 0x008300E7, 0x00000013]),
    # jump f, t0: auipc t0 + jalr zero, 8(t0).
    ("jump f, t0\nf: nop", [0x00000297, 0x00828067, 0x00000013]),
    # sext.b without Zbb: slli a0, a1, 24 ; srai a0, a0, 24 (srai: funct7 0x20).
    ("sext.b a0, a1", [0x01859513, 0x41855513]),
    # Numeric local labels: 1b is the nearest 1: before, 1f the nearest after.
    # j 1f at +4 -> +12: jal zero, 8; j 1b at +8 -> 0: jal zero, -8 (imm[20|10:1|11|19:12]).
    ("1: nop\nj 1f\nj 1b\n1: nop", [0x13, 0x0080006F, 0xFF9FF06F, 0x13]),
    # GNU as precedence: * before +, | and & at one level above +: 1 + 2 * 3 = 7,
    # 1 | 2 + 4 = (1 | 2) + 4 = 7, -7 / 2 = -3 (truncates), 3 > 2 is -1 (true).
    ("addi a0, a0, 1 + 2 * 3", [0x00750513]),
    ("addi a0, a0, 1 | 2 + 4", [0x00750513]),
    ("addi a0, a0, -7 / 2", [0xFFD50513]),
    ("addi a0, a0, 3 > 2", [0xFFF50513]),
    ("addi a0, a0, 'A'", [0x04150513]),
])
def test_expansions_and_expressions(source, expected):
    assert words(assemble(source)) == expected


@pytest.mark.parametrize("source, arch", [
    ("nop", "rv32i2p1_m2p0_a2p1_zicsr2p0_zifencei2p0_zmmul1p0"),
    ("hfence.vvma", "rv32i2p1_m2p0_a2p1_h1p0_zicsr2p0_zifencei2p0_zmmul1p0"),
    (".option arch, +h\nhfence.vvma\n.option arch, -h",
     "rv32i2p1_m2p0_a2p1_zicsr2p0_zifencei2p0_zmmul1p0"),
    (".option push\n.option arch, -h\n.option pop\nhlv.w a0, (a1)",
     "rv32i2p1_m2p0_a2p1_h1p0_zicsr2p0_zifencei2p0_zmmul1p0"),
    ('.attribute arch, "rv32imah"', "rv32i2p1_m2p0_a2p1_h1p0_zicsr2p0_zmmul1p0"),
])
def test_elf_records_the_isa(source, arch):
    # The ISA string GNU as 2.40 records (canonical order, versions, m implies zmmul, h
    # implies zicsr); H follows .option arch when the source says, else the H instructions.
    assert read_elf(assemble(source).to_elf()).attributes["arch"] == arch


def test_elf_records_the_priv_spec_only_for_privileged_code():
    assert "priv_spec" not in read_elf(assemble("rdtime a0").to_elf()).attributes
    assert read_elf(assemble("csrr a0, mstatush").to_elf()).attributes["priv_spec"] == "1.12"


def test_align_pads_code_with_nops_and_data_with_zeros():
    prog = assemble(".byte 1\n.align 3\nnop\n.data\n.byte 1\n.align 2\n.byte 2\n")
    # binutils' riscv_make_nops: a zero byte to reach an even address, one c.nop (0x0001) to
    # reach a multiple of 4, then 4-byte nops (0x00000013); GNU as also rounds a code
    # section up to its alignment (8 here), so one more nop follows the real one.
    assert prog.section(".text").data == bytes.fromhex("01000100" "13000000" "13000000"
                                                       "13000000")
    assert prog.section(".data").data == bytes.fromhex("01000000" "02")


def test_macros_defaults_named_arguments_counter_and_irp():
    prog = assemble("""
    .macro addk reg, k=1
    addi \\reg, \\reg, \\k
    .endm
    .macro spin
    .Ls\\@: j .Ls\\@
    .endm
    addk a0
    addk a0, 5
    addk k=3, reg=a1
    spin
    spin
    .irp r, a2, a3
    mv \\r, zero
    .endr
    .rept 2
    nop
    .endr
    """)
    # addi a0,a0,1 / addi a0,a0,5 / addi a1,a1,3 / two "j ." (jal zero,0) that only
    # assemble if \\@ made the labels distinct / addi a2,zero,0 / addi a3,zero,0 / 2 nops.
    assert words(prog) == [0x00150513, 0x00550513, 0x00358593, 0x0000006F, 0x0000006F,
                           0x00000613, 0x00000693, 0x00000013, 0x00000013]


@pytest.mark.parametrize("variant, expected", [(1, 0x00100513), (2, 0x00200513),
                                               (3, 0x00300513)])
def test_conditionals_select_a_variant(variant, expected):
    source = f"""
    .equ V, {variant}
    .if V == 1
      li a0, 1
    .elseif V == 2
      .ifdef V
        li a0, 2
      .else
        li a0, 99
      .endif
    .else
      li a0, 3
    .endif
    """
    assert words(assemble(source)) == [expected]


def test_include_from_dict_callable_and_nested():
    files = {"a.inc": '.include "b.inc"\nli a0, 1\n', "b.inc": "li a0, 2\n"}
    assert words(assemble('.include "a.inc"', include=files)) == [0x00200513, 0x00100513]
    assert words(assemble('.include "b.inc"', include=files.get)) == [0x00200513]


def test_assemble_file_includes_from_its_folder(tmp_path):
    (tmp_path / "defs.inc").write_text(".equ N, 5\n")
    (tmp_path / "main.s").write_text('.include "defs.inc"\nli a0, N\n')
    assert words(assemble_file(tmp_path / "main.s")) == [0x00500513]


def test_bytes_source_and_comments_and_separators():
    prog = assemble(b"nop # comment ; not a statement\n/* block\n comment */ nop ; nop\n")
    assert words(prog) == [0x13] * 3


# ---- broken inputs: one clear line each, at the right place -----------------------------

BROKEN = [
    ("frob a0, a1", "t.s:1:1: unknown instruction 'frob'"),
    ("addi x32, a0, 1", "t.s:1:6: 'x32' is not a register"),
    ("  addi a0, a0, 4096", "t.s:1:16: imm 4096 out of range (-2048..2047)"),
    ("slli a0, a0, 32", "t.s:1:14: shamt 32 out of range (0..31)"),
    ("nop\nj nowhere", "t.s:2:3: undefined symbol 'nowhere'"),
    ("a: nop\na: nop", "t.s:2:1: duplicate label 'a' (first defined at t.s:1)"),
    ('.ascii "abc', "t.s:1:8: unterminated string"),
    (b"nop\nli a0, 1 # caf\xe9", "t.s:2:15: invalid UTF-8 byte 0xe9"),
    ("beq a0, a1, far\n.space 5000\nfar: nop", "t.s:1:13: branch target out of range"),
    ("j 1b", "t.s:1:3: local label 1b: no '1:' defined before this line"),
    ("j 1f", "t.s:1:3: undefined symbol '1f'"),
    ("addi a0, a0", "t.s:1:1: wrong operands for 'addi': expected rd,rs1,imm"),
    ("csrr a0, mstatuz", "t.s:1:10: unknown CSR 'mstatuz'"),
    ("x: li a0, x", "t.s:1:11: li needs a constant known at this point"),
    ("li a0, 1/0", "t.s:1:9: division by zero"),
    (".option rvc", "t.s:1:9: compressed instructions (RVC) are not supported"),
    (".frob 1", "t.s:1:1: unknown directive '.frob'"),
    ('.include "nope.s"', "t.s:1:10: cannot find include file 'nope.s'"),
    (".if 1\nnop", "t.s:1:1: missing .endif for this .if"),
    (".endif", "t.s:1:7: .endif without .if"),
    (".macro m\nnop", "t.s:1:1: missing .endm for this .macro"),
    (".macro m\n m\n.endm\n m", "t.s:2:1: macros nested deeper than 64"),
    (".rept 10000000\nnop\n.endr", "t.s:1:7: .rept count 10000000 out of range"),
    (".space 1 << 40", "t.s:1:8: section .text would exceed 64 MiB"),
    (".byte 256", "t.s:1:7: value 256 does not fit in 1 byte"),
    (".bss\nnop", "t.s:2:1: instructions cannot go in .bss"),
    (".equ x, y\n.equ y, x\n.word x", "t.s:3:9: symbol 'x' is defined in terms of itself"),
    ('.error "variant 3 is not supported"', "t.s:1:8: variant 3 is not supported"),
    ("lw a0, 0(a1", "t.s:1:8: expected offset(register), got '0(a1'"),
    ("\x00", "t.s:1:1: expected an instruction or directive, got '\\x00'"),
    ('.attribute arch, "rv32imac"', "t.s:1:12: vmkit implements rv32ima_zicsr_zifencei_h, "
                                    "not 'c'"),
    (".attribute arch, rv32i", "t.s:1:12: .attribute arch needs a quoted ISA string"),
    (".attribute cpu, 1", "t.s:1:12: unsupported attribute 'cpu'"),
    ("fence wr, rw", "t.s:1:7: 'wr' is not a fence set"),
    ("jump f", "t.s:1:1: wrong operands for 'jump': expected symbol,rt"),
]


@pytest.mark.parametrize("source, expected", BROKEN, ids=[b[1].split(": ", 1)[1][:40]
                                                          for b in BROKEN])
def test_broken_input_gives_one_clear_error(source, expected):
    with pytest.raises(AsmError) as info:
        assemble(source, "t.s")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.diagnostics[0].startswith(expected)
    assert str(err) == "\n".join(err.diagnostics)


def test_include_cycle_is_an_error():
    with pytest.raises(AsmError, match=r"a.s:1:10: \.include cycle: 'a.s'"):
        assemble('.include "a.s"', "main.s", include={"a.s": '.include "a.s"'})


def test_include_depth_is_limited():
    chain = {f"f{i}.s": f'.include "f{i + 1}.s"' for i in range(40)}
    with pytest.raises(AsmError, match=r"\.include nested deeper than 32"):
        assemble('.include "f0.s"', include=chain)


def test_default_include_reads_package_data():
    from importlib import resources

    shipped = sorted(p.name for p in resources.files("vmkit.guest").iterdir()
                     if p.name.endswith(".s"))
    if not shipped:
        pytest.skip("vmkit/guest ships no .s files yet")
    from vmkit.asm import package_include
    assert package_include(shipped[0]) == resources.files("vmkit.guest").joinpath(
        shipped[0]).read_text(encoding="utf-8")
    assert package_include("no-such-file.s") is None


def test_errors_are_collected_and_capped():
    with pytest.raises(AsmError) as info:
        assemble("frob\n" * 50, "t.s")
    lines = info.value.diagnostics
    assert lines[:2] == ["t.s:1:1: unknown instruction 'frob'",
                         "t.s:2:1: unknown instruction 'frob'"]
    assert len(lines) == 21 and lines[-1].endswith("too many errors, stopping")


def test_unreadable_file_is_an_asm_error(tmp_path):
    with pytest.raises(AsmError, match="cannot read"):
        assemble_file(tmp_path / "missing.s")


_TOKENS = list("abjlrxz019 ,.:()%-+\"'#;\\\n\t\x00é²٣") + [
    "li", "a0", ".if", ".macro", ".endm", ".rept", ".endr", "1b", "1f", ".word", "%hi(",
    ".endif", ".include", ".space", ".equ"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join))
def test_any_text_either_assembles_or_raises_asm_error(source):
    try:
        assemble(source, "fuzz.s", include={})
    except AsmError as e:
        assert all(re.match(r"fuzz\.s:\d+:\d+: \S", d) for d in e.diagnostics)


# ---- disassembly re-assembles to the same word ----------------------------------------

_ROWS = [r for r in INSTRUCTIONS]


@st.composite
def instruction_words(draw):
    """A word matching a random table row, with random bits in its operand fields."""
    row = draw(st.sampled_from(_ROWS))
    return row.match | (draw(st.integers(0, 0xFFFFFFFF)) & ~row.mask)


@settings(max_examples=1500, deadline=None)
@given(instruction_words(), st.integers(0x0010_0000 >> 4, 0xFFE0_0000 >> 4).map(lambda n: n << 4))
def test_disassembly_reassembles_to_the_same_word(word, pc):
    disasm = pytest.importorskip("vmkit.disasm")
    row, _ = decode(word)
    assume(row is not None and not word & free_bits(row))
    text = disasm.disassemble_word(word, pc)
    text = re.sub(r" <[^>]*>", "", text.split("#")[0]).strip()
    if any(c in PC_RELATIVE for c in row.operands):
        # objdump writes branch/jump targets as bare hex addresses; GNU as reads 0x-hex.
        text = re.sub(r"([0-9a-f]+)$", r"0x\1", text)
    # objdump spells an empty fence set "unknown", which GNU as rejects as well.
    assume(not text.startswith(".4byte") and "unknown" not in text)
    assert words(assemble(text.replace("\t", " "), base=pc)) == [word], text
