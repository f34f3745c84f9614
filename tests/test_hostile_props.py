"""Hostile guests and hostile input, tried at random (issue 12 item 7): property tests over
random guests under every engine, random guest stores to every page the VMM shows a guest,
random SBI and hypercall arguments, and mutated ELF and assembly files.

What must hold whatever the input (the lecture's isolation property, made executable):
  * `vm.run` returns a VmStop, never raises, and never runs past its budget (plus the one
    instruction an exit may finish);
  * the VMM's counters add up: guest_instructions == direct + emulated;
  * host memory outside the guest's RAM is unchanged (the VMM's own tables included), except
    what the VMM itself rewrites for the guest: bt's translation cache and vCPU page, pv's
    page-table entry for the registered vCPU page;
  * the console stays within its bound;
  * bad input gives the module's own one-line error (ElfError, AsmError: both ValueError).

test_hostile.py holds the hand-written reproducers; this file tries what nobody wrote down.
Every VM run is bounded three times: by its instruction budget, by a count of the run loop's
entries into the guest, and by a wall-clock watchdog; the last two fail the test (`Runaway`)
instead of hanging it. Each known bug it found (issue 12) is an explicit example or a test of its own.
"""


import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from vmkit.asm import AsmError, assemble
from vmkit.elf import ElfError, read_elf
from vmkit.hw.devices.console import CONSOLE_LIMIT
from vmkit.hw.machine import STORM_TRAPS
from vmkit.hw.trap import INSTRUCTION_ACCESS_FAULT
from vmkit.isa import BASE
from vmkit.vmm import sbi
from vmkit.vmm.engines import bt, pv
from vmkit.vmm.vm import GUEST_RAM, GUEST_UART, VirtualMachine, VmStop

from conftest import IN_PYODIDE, Runaway, watchdog
from test_hostile import ENGINE_NAMES, guest

RAM_SIZE = 64 << 10
WATCHDOG_SECONDS = 10          # a run of a few thousand instructions takes well under 1 s
SBI_ERRORS = {sbi.SUCCESS, sbi.FAILED, sbi.NOT_SUPPORTED, sbi.INVALID_PARAM, sbi.DENIED,
              sbi.INVALID_ADDRESS}
# Hypothesis: bounded examples, no per-example deadline (a VM's first run compiles blocks), and
# the whole file well under a minute with -m "not slow".
QUICK = settings(max_examples=15, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- running a VM within bounds and checking what it may not change ------------------------------

def bounded(vm, budget):
    """Have `vm.run(budget)` fail with Runaway instead of spinning: each entry either retires
    an instruction or counts toward a storm (vm.py), so more entries than this is a bug."""
    enter, calls = vm.engine.enter, [0]
    limit = 4 * (budget + 2 * STORM_TRAPS) + 100

    def guarded(slice_):
        calls[0] += 1
        if calls[0] > limit:
            raise Runaway(f"{calls[0]} entries for a budget of {budget}: "
                          f"{vm.counters.as_dict()}")
        return enter(slice_)
    vm.engine.enter = guarded


def vmm_owned_pages(vm):
    """[(start, end)] of host RAM the VMM rewrites on the guest's behalf (excluded from the
    unchanged check): bt's translation cache and vCPU page, pv's shadow tables (where it maps
    the alias of the page)."""
    engine = vm.engine
    if engine.name == "bt":
        return [(engine.tc_pa, engine.tc_pa + bt.TC_SIZE),
                (engine.vcpu_pa, engine.vcpu_pa + 4096)]
    if engine.name == "pv":
        tables = engine.memory.tables
        return [(tables.base, tables.base + 4096 * tables.total)]
    return []


def outside_guest(vm):
    """The host machine's RAM outside the guest's RAM (and outside `vmm_owned_pages`)."""
    engine = vm.engine
    bus = engine.machine.bus
    start = engine.memory.region("ram").frames[0]        # host frames, one contiguous run
    holes = sorted([(start, start + vm.ram_size)] + vmm_owned_pages(vm))
    ram, base, pieces, at = memoryview(bus.ram), bus.ram_base, [], bus.ram_base
    for low, high in holes:
        pieces.append(bytes(ram[at - base:low - base]))
        at = high
    pieces.append(bytes(ram[at - base:]))
    return pieces


def run_hostile(vm, budget):
    """Run `vm` for `budget` instructions and check every property a hostile guest must not
    break. Returns the VmStop."""
    before = outside_guest(vm)
    bounded(vm, budget)
    with watchdog(WATCHDOG_SECONDS):
        stop = vm.run(budget)
    counters = vm.counters
    assert isinstance(stop, VmStop), stop
    assert stop.reason in ("budget", "shutdown", "wfi", "error"), stop
    if stop.reason == "error":
        assert "internal error" not in stop.message, stop
    assert counters.guest_instructions == (counters.direct_instructions
                                           + counters.emulated_instructions), counters
    assert 0 <= counters.guest_instructions <= budget + 1, counters
    assert len(vm.console) <= CONSOLE_LIMIT
    after = outside_guest(vm)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert not changed, f"host memory outside the guest changed (pieces {changed})"
    return stop


# --- strategies -----------------------------------------------------------------------------------

# Addresses a hostile guest would try: its own RAM and just past it, the UART, the pages the
# VMM maps at the top (bt: TC and vCPU page; pv: the vCPU page alias), host-physical addresses
# of the VMM's tables (which must mean nothing to a guest), and the ends of the address space.
_BT = VirtualMachine(assemble("_start: j _start\n"), engine="bt", ram_size=RAM_SIZE).engine
LANDMARKS = (0, GUEST_RAM, GUEST_RAM + RAM_SIZE, GUEST_RAM + RAM_SIZE - 4, GUEST_UART,
             0x0200_0000, bt.TC_VA, bt.VCPU_PAGE_VA, bt.VCPU_PAGE_VA + 0x800, _BT.tc_pa,
             _BT.vcpu_pa, _BT.ram_base, _BT.memory.tables.base, 0x8080_0000, 0x8100_0000,
             0xFFFF_FFFC)
ADDRESSES = st.one_of(
    st.integers(0, 0xFFFFFFFF),
    st.tuples(st.sampled_from(LANDMARKS), st.integers(-256, 256)).map(
        lambda p: (p[0] + p[1]) & 0xFFFFFFFF))
VALUES = st.one_of(ADDRESSES, st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]))

# Real instructions from the ISA table with random operands (registers, immediates, CSRs), and
# words no table row matches.
TABLE_WORDS = st.tuples(st.sampled_from(BASE), st.integers(0, 0xFFFFFFFF)).map(
    lambda p: p[0].match | (p[1] & ~p[0].mask & 0xFFFFFFFF))
WORDS = st.one_of(TABLE_WORDS, TABLE_WORDS, st.integers(0, 0xFFFFFFFF))

# A trap handler that steps over what trapped, so a random guest keeps going after a fault.
HANDLER = """
handler: csrr t6, sepc
        addi t6, t6, 4
        csrw sepc, t6
        sret
"""


def preload(registers):
    """Set registers x1.. to hostile values (addresses, mostly) before the random code runs."""
    return "".join(f"        li x{n}, {value:#x}\n" for n, value in registers.items())


def random_guest(registers, words):
    return ("_start: la t0, handler\n        csrw stvec, t0\n" + preload(registers)
            + "body:\n" + "".join(f"        .word {w:#010x}\n" for w in words) + HANDLER)


REGISTERS = st.dictionaries(st.integers(1, 31), VALUES, max_size=12)


# --- 1. random guests under every engine -----------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINE_NAMES)
@QUICK
@given(registers=REGISTERS, words=st.lists(WORDS, min_size=1, max_size=32),
       budget=st.integers(1, 3000))
def test_random_guests_cannot_escape(engine, registers, words, budget):
    vm = guest(random_guest(registers, words), engine, ram_size=RAM_SIZE)
    run_hostile(vm, budget)


@pytest.mark.slow
@pytest.mark.skipif(IN_PYODIDE, reason="minutes on CPython: too long for the Pyodide run")
@pytest.mark.parametrize("engine", ENGINE_NAMES)
@settings(QUICK, max_examples=400)
@given(registers=REGISTERS, words=st.lists(WORDS, min_size=1, max_size=64),
       budget=st.integers(1, 20_000))
def test_many_random_guests_cannot_escape(engine, registers, words, budget):
    """The same property, longer guests and runs, many more of them (minutes)."""
    test_random_guests_cannot_escape.hypothesis.inner_test(engine, registers, words, budget)



# A jump to any address outside guest RAM is an instruction access fault (paging off), wherever
# the VMM keeps its own code: the handler records scause and stval.
JUMP_OUT = """
_start: la t0, handler
        csrw stvec, t0
        li t0, {target:#x}
        li s1, 0x7777
        jr t0
handler: csrr s1, scause
        csrr s2, stval
1:      j 1b
"""
OUTSIDE_RAM = ADDRESSES.map(lambda a: a & ~3).filter(
    lambda a: not GUEST_RAM <= a < GUEST_RAM + RAM_SIZE)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@QUICK
@given(target=OUTSIDE_RAM)
@example(target=bt.TC_VA + 16)
def test_a_jump_outside_guest_ram_is_an_access_fault(engine, target):
    vm = guest(JUMP_OUT.format(target=target), engine, ram_size=RAM_SIZE)
    run_hostile(vm, 300)
    x = vm.engine.guest_state()["x"]
    assert (x[9], x[18]) == (INSTRUCTION_ACCESS_FAULT, target), (hex(x[9]), hex(x[18]))


# --- 2. random guest stores to every page the VMM shows a guest -----------------------------------

# The pages a store could reach the VMM through: bt's vCPU page and translation cache at the
# top of the address space (pv's vCPU page alias is there too), the UART, and the pages just
# below and just past guest RAM.
VMM_PAGES = (bt.VCPU_PAGE_VA, bt.TC_VA, GUEST_UART, GUEST_RAM + RAM_SIZE, GUEST_RAM - 4096)
STORES = st.tuples(st.sampled_from(VMM_PAGES), st.sampled_from(["sb", "sh", "sw"]),
                   st.integers(0, 4095), VALUES)


def storing_guest(stores):
    """A guest kernel that does `stores` (page, width, offset, value) again and again."""
    lines = []
    for page, width, offset, value in stores:
        offset &= ~({"sb": 0, "sh": 1, "sw": 3}[width])      # aligned: the page, not alignment
        lines.append(f"        li s0, {page + 0x800:#x}\n        li t1, {value:#x}\n"
                     f"        {width} t1, {offset - 0x800}(s0)\n")
    # Under pv the guest first registers its vCPU page, so 0xFFFFF000 is the shared page
    # (the other engines answer the hypercall NOT_SUPPORTED).
    return (f"_start: la t0, handler\n        csrw stvec, t0\n        la a0, page\n"
            f"        li a6, {pv.REGISTER_VCPU_PAGE}\n        li a7, {pv.EID_PV:#x}\n"
            "        ecall\nloop:\n" + "".join(lines) + "        j loop\n" + HANDLER
            + "        .bss\n        .balign 4096\npage:   .space 4096\n")


# Under bt the budget word and VIF live on the vCPU page the guest kernel can write (issue 12
# item 2): the explicit example writes the budget word with -2^31, which once made 1000
# instructions count as 2^31 + 1000 (and a positive word such as 100000 a run without end).
BT_BUDGET_WRITE = [(bt.VCPU_PAGE_VA, "sw", 0x800 + 8, 0x80000000)]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@QUICK
@given(stores=st.lists(STORES, min_size=1, max_size=8), budget=st.integers(1, 5000))
@example(stores=BT_BUDGET_WRITE, budget=1000)
def test_guest_stores_to_vmm_pages_move_nothing(engine, stores, budget):
    vm = guest(storing_guest(stores), engine, ram_size=RAM_SIZE)
    stop = run_hostile(vm, budget)
    assert stop.reason in ("budget", "error"), stop       # it loops: only the budget ends it


# --- 4. SBI calls and hypercalls with random arguments -------------------------------------------

EIDS = st.one_of(st.sampled_from(sorted(sbi.EXTENSIONS) + [pv.EID_PV]), st.integers(0, 0xFFFFFFFF))
FIDS = st.one_of(st.integers(0, 8), st.integers(0, 0xFFFFFFFF))
# a0..a5, a6 (FID), a7 (EID)
CALLS = st.tuples(st.lists(VALUES, min_size=6, max_size=6), FIDS, EIDS)


def calling_guest(calls):
    """A guest kernel making `calls`, each answer's a0 kept in `answers`, then a marker."""
    lines = []
    for k, (args, fid, eid) in enumerate(calls):
        lines += [f"        li a{n}, {value:#x}\n" for n, value in enumerate(args)]
        lines.append(f"        li a6, {fid:#x}\n        li a7, {eid:#x}\n        ecall\n"
                     f"        la t0, answers\n        sw a0, {4 * k}(t0)\n")
    return ("_start:\n" + "".join(lines) + "        la t0, done\n        li t1, 1\n"
            "        sw t1, 0(t0)\n1:      j 1b\n        .data\ndone:   .word 0\n"
            f"answers: .space {4 * len(calls)}\n"
            "        .bss\n        .balign 4096\npage:   .space 4096\n")


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@QUICK
@given(calls=st.lists(CALLS, min_size=1, max_size=6))
def test_sbi_and_hypercall_arguments_get_clean_answers(engine, calls):
    program = assemble(calling_guest(calls), "guest.s")
    vm = VirtualMachine(program, engine=engine, ram_size=RAM_SIZE)
    budget = 100 * len(calls) + 100
    run_hostile(vm, budget)
    # A guest that got through all its calls (none of them a shutdown, a trap return or an idle
    # that jumped elsewhere) has an SBI error code (or a legacy call's 0 / -1) for each.
    done, answers = program.symbols["done"], program.symbols["answers"]
    if vm.read_guest(done, 4) == (1).to_bytes(4, "little"):
        words = vm.read_guest(answers, 4 * len(calls))
        for k in range(len(calls)):
            error = int.from_bytes(words[4 * k:4 * k + 4], "little", signed=True)
            if calls[k][2] != pv.EID_PV:       # TRAP_RETURN gives back the guest's own a0
                assert error in SBI_ERRORS, (calls[k], error)


# --- 3. mutated ELF files and assembly text -------------------------------------------------------

SEED_SOURCE = """
        .globl _start
_start: la t0, message
        lw t1, 0(t0)
        j _start
        .data
message: .word 0x12345678
        .bss
buffer: .space 256
"""
SEED_ELF = assemble(SEED_SOURCE, "seed.s").to_elf()
# Values a hostile header field would hold: sizes and offsets at and past every edge.
FIELD_VALUES = st.sampled_from([0, 1, 0x34, 0x7F, 0xFFFF, 0x8000_0000, 0x7FFF_FFFF,
                                0xFFFF_FFFF, 0x4000_0000, len(SEED_ELF), len(SEED_ELF) + 1])


@st.composite
def mutated(draw, seed, alphabet=None):
    """`seed` with a few random mutations: bytes flipped, ranges deleted or duplicated, random
    bytes inserted, and (for binary input) 32-bit fields overwritten with edge values."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "delete", "duplicate", "insert", "field"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        length = draw(st.integers(1, 64))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "delete":
            del data[at:at + length]
        elif kind == "duplicate":
            data[at:at] = data[at:at + length] * draw(st.integers(1, 8))
        elif kind == "insert":
            data[at:at] = draw(st.binary(max_size=length) if alphabet is None
                               else st.text(alphabet, max_size=length).map(str.encode))
        elif kind == "field" and alphabet is None:
            data[at & ~3:(at & ~3) + 4] = draw(FIELD_VALUES).to_bytes(4, "little")
    return bytes(data)


# At most this much guest RAM is handed to the VM loader (bigger ones: the test after it).
LOADED_MEMSIZE = 4 << 20


@QUICK
@given(data=mutated(SEED_ELF))
def test_mutated_elf_files_give_an_elf_error_or_a_loadable_image(data):
    try:
        image = read_elf(data, "mutated.elf")
    except ElfError as error:
        assert "\n" not in str(error) and str(error).startswith("mutated.elf: "), error
        return
    if sum(s.memsize for s in image.segments) > LOADED_MEMSIZE:
        return
    try:
        vm = VirtualMachine(image, engine="hw", ram_size=RAM_SIZE)
    except ValueError as error:                  # outside guest RAM, entry point, ...
        assert "\n" not in str(error), error
        return
    run_hostile(vm, 500)


def test_an_elf_segment_larger_than_guest_ram_is_refused_before_allocating():
    import tracemalloc
    program = assemble(SEED_SOURCE + "        .bss\nhuge:   .space 48 << 20\n", "big.s")
    with pytest.raises(ElfError, match="over the 16 MiB of guest RAM"):
        read_elf(program.to_elf(), "big.elf")         # the ELF loader refuses it first
    tracemalloc.start()
    try:                                              # and so does the VM, given the program
        with pytest.raises(ValueError, match="guest RAM"):
            VirtualMachine(program, engine="hw", ram_size=RAM_SIZE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak >> 20} MiB allocated to refuse it"


# Assembly: the seed plus what a hostile file is made of (directives, macros, nesting).
ASM_SEED = SEED_SOURCE + """
        .macro twice x
        \\x
        \\x
        .endm
        .rept 3
        twice nop
        .endr
        .set depth, ((((1 + 2) * 3) << 4) - 5)
        .word depth
"""
ASM_ALPHABET = " \t\n()+-*/<>%&|^~,.:\\\"'0123456789abcdefx_rept endr macro endm set"


def nested(depth):
    return f".word {'(' * depth}1{')' * depth}\n".encode()


@QUICK
@given(source=st.one_of(
    mutated(ASM_SEED.encode(), alphabet=ASM_ALPHABET),
    st.integers(1, 200).map(nested),
    st.integers(2, 12).map(lambda n: (".macro m\n" + "m\n" * n + ".endm\nm\n").encode())))
def test_mutated_assembly_gives_an_asm_error_or_a_program(source):
    try:
        assemble(source, "mutated.s")
    except AsmError as error:
        assert all(line.startswith("mutated.s:") for line in error.diagnostics), error


def test_deeply_nested_parentheses_give_an_asm_error():
    with pytest.raises(AsmError):
        assemble(nested(2000), "nested.s")
