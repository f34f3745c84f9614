"""The ELF attributes of an assembled program: which ISA and privileged spec it is for.

A RISC-V object file says in its ``.riscv.attributes`` section (psABI "Attributes") which
extensions its code needs (``Tag_RISCV_arch``) and which privileged spec its CSR names follow;
disassemblers and loaders read it. (x86 has no such record: its ISA extensions are found by
CPUID at run time.) vmkit records what GNU as 2.40 records for the same source when run as
``as -march=rv32ima_zicsr_zifencei -mpriv-spec=1.12``:

* the ISA string, with ``h1p0`` if ``.option arch`` leaves H enabled at the end of the file,
  or, in a file whose ``.option arch`` never says, if an H instruction is used (GNU as
  needs H in its -march for that), unless the source gives
  ``.attribute arch, "..."`` itself (gcc output does), which is then written in GNU's
  canonical form;
* the privileged spec (1.12, the one vmkit's hart follows: mstatush, menvcfg, the H
  extension) only if an instruction has a CSR operand or is one of sret, mret, wfi,
  sfence.vma (binutils tc-riscv.c, riscv_is_priv_insn);
* ``.attribute stack_align`` and ``unaligned_access`` as given (a zero is not written).
"""

import re

from vmkit.elf import TAG_ARCH, TAG_PRIV_SPEC, TAG_PRIV_SPEC_MINOR, TAG_STACK_ALIGN, \
    TAG_UNALIGNED_ACCESS

from .errors import LineError

# GNU as 2.40's default version of each extension vmkit implements (bfd/elfxx-riscv.c,
# riscv_supported_std_*_ext), what each implies (riscv_implicit_subsets), and the canonical
# order of single-letter extensions (ISA manual, "ISA Extension Naming Conventions").
VERSIONS = {"i": "2p1", "m": "2p0", "a": "2p1", "h": "1p0", "zicsr": "2p0",
            "zifencei": "2p0", "zmmul": "1p0"}
IMPLIES = {"m": "zmmul", "h": "zicsr"}
ORDER = "iemafdqlcbkjtpvh"
BASE_ISA = ("i", "m", "a", "zicsr", "zifencei")
PRIV_SPEC = (1, 12)
PRIVILEGED = frozenset(("sret", "mret", "wfi", "sfence.vma"))
NAMES = {"arch": TAG_ARCH, "stack_align": TAG_STACK_ALIGN,
         "unaligned_access": TAG_UNALIGNED_ACCESS}


def _sort_key(ext):
    """Single letters in canonical order, then z-extensions by their category letter (the
    one after z) in that same order, then by name."""
    if len(ext) == 1:
        return (0, ORDER.index(ext), ext)
    return (1, ORDER.index(ext[1]) if ext[1] in ORDER else len(ORDER), ext)


def isa_string(extensions) -> str:
    """"rv32" + each extension with its version, implied ones added, canonical order."""
    exts = set(extensions)
    exts |= {IMPLIES[e] for e in exts if e in IMPLIES}
    return "rv32" + "_".join(e + VERSIONS[e] for e in sorted(exts, key=_sort_key))


def parse_isa(text: str, col: int) -> list[str]:
    """The extensions an ISA string such as "rv32i2p1_m2p0_zicsr2p0" or "rv32imah" names;
    a LineError for one vmkit does not implement."""
    m = re.fullmatch(r"rv32([a-z0-9]*)((?:_[a-z][a-z0-9]*)*)", text.lower())
    if not m:
        raise LineError(col, f"'{text}' is not an RV32 ISA string (such as rv32ima_zicsr)")
    exts = re.findall(r"([a-z])(?:\d+(?:p\d+)?)?", m.group(1))
    exts += [re.sub(r"\d+(p\d+)?$", "", part) for part in m.group(2).split("_")[1:]]
    unknown = [e for e in exts if e not in VERSIONS]
    if unknown:
        raise LineError(col, f"vmkit implements rv32ima_zicsr_zifencei_h, not "
                             f"'{unknown[0]}' (in '{text}')")
    return exts


def arch_has_h(items, has_h: bool | None) -> bool | None:
    """After ``.option arch, <items>``: is H enabled? ("+h", "-h", or a whole ISA string
    such as "rv32imah_zicsr" or "rv32ima_h_zicsr"); None while the source has not said.
    GNU as records the ISA in effect at the end of the file as Tag_RISCV_arch."""
    for item in items:
        item = item.lower()
        if item in ("+h", "-h"):
            has_h = item == "+h"
        elif re.match(r"=?rv(32|64)", item):
            base, *multi = item.lstrip("=")[4:].split("_")
            has_h = "h" in base or any(re.fullmatch(r"h(\d+p\d+)?", m) for m in multi)
    return has_h


def attribute_directive(explicit: dict, text: str, col: int):
    """``.attribute name, value``: remember the value (checked) in `explicit` by tag."""
    name, _, value = (part.strip() for part in text.partition(","))
    tag = NAMES.get(name.lower())
    if tag is None:
        raise LineError(col, f"unsupported attribute '{name}' (vmkit knows "
                             + ", ".join(NAMES) + ")")
    if tag == TAG_ARCH:
        if not (len(value) >= 2 and value[0] == value[-1] == '"'):
            raise LineError(col, ".attribute arch needs a quoted ISA string")
        explicit[tag] = isa_string(parse_isa(value[1:-1], col))
    elif not value.isdigit():
        raise LineError(col, f".attribute {name} needs a non-negative number")
    else:
        explicit[tag] = int(value)


def program_attributes(rows_used, arch_h: bool | None, explicit: dict) -> dict:
    """{tag: value} to write for a program that used the instruction-table rows
    `rows_used`, left H on or off by ``.option arch`` (None: never said), and gave
    `explicit` attributes."""
    tags = {tag: value for tag, value in explicit.items() if value != 0}
    if TAG_ARCH not in tags:
        h = arch_h if arch_h is not None else any(row.extension == "h" for row in rows_used)
        tags[TAG_ARCH] = isa_string(BASE_ISA + (("h",) if h else ()))
    if any("E" in row.operands or row.name in PRIVILEGED for row in rows_used):
        tags[TAG_PRIV_SPEC], tags[TAG_PRIV_SPEC_MINOR] = PRIV_SPEC
    return tags
