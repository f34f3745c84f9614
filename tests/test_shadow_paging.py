"""Shadow paging under `trap` (vmkit/vmm/shadow.py): a guest that pages gets, under trap, what
it gets on the hardware (`native`): the same console, registers, supervisor CSRs, RAM (so its
page tables' A/D bits) and guest instruction count, on both execution paths of the hart.

The guest is tests/programs/guests/pte_script.s (read its header): a paging kernel running a
script of PTE edits, fences, satp switches and S/U-mode accesses. Its own script covers each
case by name; Hypothesis writes random ones. A random script fences after every PTE edit, as
the privileged spec requires (4.2.1): without the fence the hardware may use either the old or
the new translation, so native's TLB and trap's shadow may legally differ.
"""

import random
import re

import pytest
from hypothesis import given, settings, strategies as st

import corpus
from vmkit.asm import assemble, assemble_file
from vmkit.hw.paging import SV32, walk
from vmkit.vmm import shadow
from vmkit.vmm.engines.trap import TrapEngine
from vmkit.vmm.layout import GUEST_RAM
from vmkit.vmm.vm import VirtualMachine

GUEST = corpus.PROGRAM_DIR / "guests" / "pte_script.s"
SOURCE = GUEST.read_text()
SCRIPT = re.compile(r"^script:\n.*?^script_end:", re.S | re.M)
PATHS = pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
SHADOW_ENGINES = ("trap", "bt")


def program(script=None):
    """The guest, with its own script or `script` ([(op, a, b)]; op 0 is appended)."""
    source = SOURCE
    if script is not None:
        words = "\n".join(f"    .word {op}, {a}, {b}" for op, a, b in [*script, (0, 0, 0)])
        source = SCRIPT.sub(lambda _: f"script:\n{words}\nscript_end:", source)
    return assemble(source, "pte_script.s")


def observe(prog, engine, fast=True, **options):
    """Everything the guest can see of a run, and the VM (`options`: VirtualMachine's)."""
    vm = VirtualMachine(prog, engine=engine, fast=fast, **options)
    stop = vm.run(3_000_000)
    state = vm.engine.guest_state()
    seen = (stop.reason, stop.code, stop.message, bytes(vm.console),
            vm.counters.guest_instructions, state["x"], state["pc"],
            tuple(sorted(state["csrs"].items())), vm.read_guest(GUEST_RAM, vm.ram_size))
    return seen, vm


def shadow_targets(vm):
    """Host-physical pages every cached shadow maps (checked by walking it as the hart does)."""
    engine, bus = vm.engine, vm.engine.machine.bus
    for table in engine.shadows.shadows.values():
        for va in table.pages:
            yield walk(SV32, table.root >> 12, va, lambda a: bus.load(a, 4))[3]


def pool_frames_reachable(vm):
    """Frames of the table pool reachable from the identity table and the cached shadows."""
    engine, bus = vm.engine, vm.engine.machine.bus
    frames = 1                                          # the identity table (megapages only)
    for table in engine.shadows.shadows.values():
        frames += 1 + sum(bus.load(table.root + 4 * i, 4) & 1 for i in range(1024))
    return frames


def in_guest_ram(vm, hpa):
    return vm.engine.ram_base <= hpa < vm.engine.ram_base + vm.ram_size


# -- the guest's own script -----------------------------------------------------------------
@PATHS
def test_script_under_trap_is_native(fast):
    reference, _ = observe(program(), "native", fast)
    assert reference[0] == "shutdown"
    seen, vm = observe(program(), "trap", fast)
    assert seen == reference
    assert all(in_guest_ram(vm, hpa) for hpa in shadow_targets(vm))
    # No table frame leaks (a leaf table emptied by fences was once never freed).
    assert vm.engine.memory.tables.used_frames == pool_frames_reachable(vm)


@PATHS
def test_script_under_bt_is_native(fast):
    """bt's kernel runs translated, on S shadows that also map its TC and vCPU page."""
    reference, _ = observe(program(), "native", fast)
    seen, vm = observe(program(), "bt", fast)
    assert seen == reference
    assert all(in_guest_ram(vm, hpa) for hpa in shadow_targets(vm))
    assert vm.engine.statistics()["hidden_faults"] > 0


def test_script_output_is_what_the_spec_says():
    """Spot checks against the privileged spec, so that native itself is checked too."""
    (_, _, _, console, *_), _ = observe(program(), "trap")
    lines = console.decode().splitlines()
    # A kernel page: V R W (0x07); a load sets A (0x47), a store D (0xc7): 4.3.2 step 7.
    assert lines[:5] == ["P 20001807", "L 11111111", "P 20001847", "S 12345678",
                         "P 200018c7"]
    # A user page from S without SUM: load page fault (13), stval = the address (4.3.2).
    assert lines[5:8] == ["T 0000000d", "V 40002004", "L 0000dead"]
    assert lines[8] == "L 22222222"                             # with SUM
    # S-mode never executes a user page, SUM or not: instruction page fault (12).
    assert lines[9:12] == ["T 0000000c", "V 40002000", "X 0000dead"]
    assert lines[12] == "U 22222222"                            # U-mode
    # A leaf outside RAM: access faults (5, 7, 1), not page faults; A and D set (0xcf).
    assert "T 00000005" in lines and "T 00000007" in lines and "T 00000001" in lines
    assert "a 000008cf" in lines
    # The guest mapped its own page table and read PTE l0a[1] through it.
    assert "L 20001847" in lines


def test_faults_are_counted_hidden_or_true():
    (_, _, _, console, *_), vm = observe(program(), "trap")
    stats = vm.engine.statistics()
    page_faults = [line for line in console.decode().splitlines()
                   if line in ("T 0000000c", "T 0000000d", "T 0000000f")]
    assert stats["true_faults"] == len(page_faults) == 11
    assert stats["hidden_faults"] == vm.counters.exits["page_fault"] > 0
    assert stats["shadow_switches"] == 5       # the first satp write and four space switches
    assert stats["shadow_fences"] == 14


def test_vs_paging_takes_one_true_fault():
    """tests/programs/guests/vs_paging.s: the fetch after `csrw satp` is a true fault."""
    vm = VirtualMachine(assemble_file(corpus.PROGRAM_DIR / "guests" / "vs_paging.s"),
                        engine="trap")
    assert vm.run(200_000).reason == "shutdown"
    stats = vm.engine.statistics()
    assert stats["true_faults"] == 1 and stats["hidden_faults"] >= 1


# Kernel code at a window page, translated under bt, then its PTE changed and fenced: the
# second call must see the new PTE (no X: an instruction page fault, scause 12), the third the
# page executable again but another frame. A translation keyed by virtual pc alone would run on.
CODE_REMAPPED = [(1, 1, 0 << 16 | 0x4B), (2, -1, -1), (9, 1, 0),      # V R X A: runs `ret`
                 (1, 1, 0 << 16 | 0x43), (2, 1, -1), (9, 1, 0),       # V R A: fetch faults
                 (1, 1, 1 << 16 | 0x4B), (2, -1, 1), (9, 1, 0),       # frame 1, executable
                 (5, 1, 0), (1, 17, 2 << 16 | 0x4B), (2, -1, -1), (9, 1, 0)]   # other space


@pytest.mark.parametrize("engine", SHADOW_ENGINES)
def test_kernel_code_remapped_and_fenced_runs_the_new_mapping(engine):
    prog = program(CODE_REMAPPED)
    reference, _ = observe(prog, "native")
    assert reference[3].count(b"T 0000000c\nV 40001000\n") == 1
    seen, vm = observe(prog, engine)
    assert seen == reference


# -- scarce shadows: eviction and a tiny table pool --------------------------------------------
def every_view_script():
    """Both spaces, every (SUM, MXR) in S and U: 12 views, more than MAX_SHADOWS."""
    script = [(1, 0, 0 << 16 | 0xdf), (1, 16, 1 << 16 | 0xdf), (2, -1, -1)]
    for space in (0, 1):
        script.append((5, space, 0))
        for status in range(4):
            script += [(6, status, 0), (3, 0, 0), (7, 0, 0), (4, 0, status), (3, 0, 0)]
    return script


@PATHS
def test_more_views_than_the_cache_holds(fast):
    prog = program(every_view_script())
    reference, _ = observe(prog, "native", fast)
    seen, vm = observe(prog, "trap", fast)
    assert seen == reference
    assert vm.engine.statistics()["shadow_evictions"] > 0
    assert len(vm.engine.shadows.shadows) <= shadow.MAX_SHADOWS


@pytest.mark.parametrize("engine", SHADOW_ENGINES)
def test_shadows_give_their_asids_back(engine):
    """Each shadow is tagged with a host ASID of its own, fenced and freed when it goes."""
    prog = program(every_view_script())
    vm = VirtualMachine(prog, engine=engine)
    asids = vm.engine.host.asids
    engine_own = asids.in_use
    assert vm.run(3_000_000).reason == "shutdown"
    live = {s.asid for s in vm.engine.shadows.shadows.values()}
    assert None not in live and len(live) == len(vm.engine.shadows.shadows)
    assert asids.in_use == engine_own + len(live) <= engine_own + shadow.MAX_SHADOWS
    vm.engine.shadows.clear()
    assert asids.in_use == engine_own


@pytest.mark.parametrize("engine", SHADOW_ENGINES)
def test_without_asids_left_shadows_share_the_vmms(engine):
    """A host out of ASIDs: shadows get none and the VMM flushes on every switch: the same
    run as native still."""
    reference, _ = observe(program(), "native")
    vm = VirtualMachine(program(), engine=engine)
    taken = []
    while vm.engine.host.asids.free_ids:
        taken.append(vm.engine.host.asids.alloc())
    stop = vm.run(3_000_000)
    state = vm.engine.guest_state()
    assert (stop.reason, bytes(vm.console), state["x"]) == (reference[0], reference[3],
                                                            reference[5])
    assert vm.read_guest(GUEST_RAM, vm.ram_size) == reference[-1]
    assert all(s.asid is None for s in vm.engine.shadows.shadows.values())


def test_a_four_frame_table_pool_still_works(monkeypatch):
    """The identity table, one shadow root and two leaf tables (the kernel's 4 MiB and the
    window's): each new shadow evicts the last, a full one starts over."""
    monkeypatch.setattr(TrapEngine, "table_pool", 4)
    reference, _ = observe(program(), "native")
    seen, vm = observe(program(), "trap")
    assert seen == reference
    assert vm.engine.statistics()["shadow_evictions"] > 0


@PATHS
def test_fences_give_leaf_tables_back(fast, monkeypatch):
    """A leaf table whose pages a fence by address emptied is freed with its shadow: it once
    leaked, and with a small pool the guest soon stormed on the frames left."""
    monkeypatch.setattr(TrapEngine, "table_pool", 4)
    prog = program([(1, 1, 0 << 16 | 0x07)] + [(2, -1, -1), (3, 1, 0), (2, 1, -1)] * 4)
    reference, _ = observe(prog, "native", fast)
    seen, vm = observe(prog, "trap", fast)
    assert seen == reference
    assert vm.engine.memory.tables.used_frames == pool_frames_reachable(vm)


# -- snapshots: shadows are a cache, rebuilt after a restore -----------------------------------
def test_snapshot_in_the_middle_of_paging():
    reference, _ = observe(program(), "native")
    vm = VirtualMachine(program(), engine="trap")
    assert vm.run(4000).reason == "budget"
    copy = VirtualMachine.from_snapshot(vm.snapshot())
    assert copy.run(3_000_000).reason == "shutdown"
    assert bytes(copy.console) == reference[3]          # (the log is in the snapshot)
    assert copy.read_guest(GUEST_RAM, copy.ram_size) == reference[-1]


# -- random scripts against native ---------------------------------------------------------------
FRAMES = (0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 15)


def random_script(seed, length):
    rng = random.Random(seed)
    script = []
    for _ in range(length):
        kind = rng.randrange(10)
        page = rng.randrange(8)
        if kind < 3:                                  # edit a PTE, then a sufficient fence
            space, frame = rng.randrange(2), rng.choice(FRAMES)
            flags = rng.randrange(256) & ~0x20        # no G: global mappings must agree
            if rng.random() < 0.8:
                flags |= 1
            if frame == 13:
                flags &= ~0x08                        # never execute a page table
            if rng.random() < 0.2:                    # the megapage window instead
                if not flags & 0x0a:
                    flags |= 0x02                     # a leaf: a pointer would make the
                    #                                   kernel's code a table of global PTEs
                script.append((11, space, flags & ~0xc0 | rng.choice((0, 0xc0))))
                page |= 16                            # (fence by any address inside it)
            else:
                script.append((1, space << 4 | page, frame << 16 | flags))
            script.append(rng.choice([(2, page, space + 1), (2, page, -1), (2, -1, space + 1),
                                      (2, -1, -1)]))
        elif kind == 3:
            script.append((rng.choice((3, 7)), page, 0))
        elif kind == 4:
            script.append((rng.choice((4, 8)), page, rng.randrange(1 << 32)))
        elif kind == 5:
            script.append((5, rng.randrange(2), 0))
        elif kind == 6:
            script.append((6, rng.randrange(4), 0))
        elif kind == 7:
            script.append((9, page, 0))
        elif kind == 8:
            script.append(rng.choice([(10, rng.randrange(2) << 4 | page, 0), (12, page, 0)]))
        else:
            script.append((3, page, 0))
    return script


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 40),
       fast=st.booleans())
def test_random_pte_scripts_match_native(seed, length, fast):
    prog = program(random_script(seed, length))
    reference, _ = observe(prog, "native", fast)
    assert reference[0] == "shutdown"
    for engine in SHADOW_ENGINES:
        seen, vm = observe(prog, engine, fast)
        assert seen == reference, engine
        assert all(in_guest_ram(vm, hpa) for hpa in shadow_targets(vm))


# -- hostile page tables -------------------------------------------------------------------------
HOSTILE_ROOT = """
_start:
    la t0, 1f
    csrw stvec, t0
    li t0, 0x80000000 | {root:#x}
    csrw satp, t0
1:  j 1b
"""


@pytest.mark.parametrize("root", [0x3F000, 0x80100], ids=["outside-RAM", "empty"])
def test_a_root_that_maps_nothing_ends_in_a_trap_storm(root):
    """Every fetch faults, the trap vector too: the VM stops, under trap as on the hardware."""
    prog = assemble(HOSTILE_ROOT.format(root=root), "hostile.s")
    stops = [VirtualMachine(prog, engine=engine).run(1_000_000) for engine in ("native", "trap")]
    assert stops[0] == stops[1]
    assert stops[0].reason == "error" and "trap after trap" in stops[0].message


@pytest.mark.parametrize("target", ["table-pool", "past-guest-ram"])
def test_a_pte_at_vmm_memory_reaches_only_guest_ram(target):
    """Frame 15 patched to a host-physical address the VMM uses (the shadows' table pool), or
    just past guest RAM: the guest stores through it, and host RAM outside its own RAM and the
    pool (which holds only shadows) stays as it was."""
    engine = VirtualMachine(program(), engine="trap").engine
    address = {"table-pool": engine.memory.tables.base,
               "past-guest-ram": engine.ram_base + engine.vm.ram_size}[target]
    script = [(1, 1, 15 << 16 | 0xc7), (2, -1, -1), (4, 1, 0xbad), (3, 1, 0), (0, 0, 0)]
    words = "\n".join(f"    .word {op}, {a}, {b}" for op, a, b in script)
    source = SCRIPT.sub(lambda _: f"script:\n{words}\nscript_end:", SOURCE)
    source = source.replace("li t3, 0x2000", f"li t3, {address:#x}")
    vm = VirtualMachine(assemble(source, "pte_script.s"), engine="trap")
    bus, engine = vm.engine.machine.bus, vm.engine
    mine = [(engine.ram_base, vm.ram_size),
            (engine.memory.tables.base, engine.memory.tables.total * 4096)]

    def outside():
        ram, base = bus.ram, bus.ram_base
        edges = sorted((start - base, start - base + size) for start, size in mine)
        return ram[:edges[0][0]] + ram[edges[0][1]:edges[1][0]] + ram[edges[1][1]:]

    before = outside()
    assert vm.run(3_000_000).reason == "shutdown"
    assert outside() == before
    assert engine.memory.tables.used_frames == pool_frames_reachable(vm)
    assert bus.load(engine.memory.tables.base + 0x7fc, 4) != 0xbad
    if target == "table-pool":     # that number is a guest-physical address in its own RAM
        assert vm.read_guest(address + 0x7fc, 4) == (0xbad).to_bytes(4, "little")
    else:                          # nothing there: a store access fault
        assert b"T 00000007\nV 400017fc\n" in bytes(vm.console)
    assert all(in_guest_ram(vm, hpa) for hpa in shadow_targets(vm))
