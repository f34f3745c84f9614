"""Homeworks 1, 2 and 3: each key is right for hundreds of seeds, the student's files hold no key,
and a wrong my_sret or shadow_pte is told which field or rule is wrong.

The key (instructor/hw1/hw1_key.py) is graded here against the reasoning of the lecture: the
cli/sti loop exits twice per iteration under trap and never under bt, and one iteration costs
what notebook 02 measures (two loop lengths, difference divided by the difference in
iterations). The end-to-end parts (otter assign, grading submissions) are in
tests/test_homework_otter.py.
"""

import hashlib
import inspect
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
STUDENT = ROOT / "notebooks" / "homework"
INSTRUCTOR = ROOT / "instructor" / "hw1"
INSTRUCTOR2 = ROOT / "instructor" / "hw2"
INSTRUCTOR3 = ROOT / "instructor" / "hw3"
SEEDS = range(200)

pytestmark = pytest.mark.skipif(sys.platform == "emscripten",
                                reason="the homework is not part of the Pyodide core suite")


@pytest.fixture(scope="module")
def hw():
    """(student module, key module), imported from instructor/hw1 (the source of both)."""
    sys.path.insert(0, str(INSTRUCTOR))
    import hw1
    import hw1_key
    yield hw1, hw1_key
    sys.path.remove(str(INSTRUCTOR))


def notebook02_per_iteration(workload, engine, preset, small=10, large=60):
    """Cycles by category that one iteration adds, measured as notebook 02 measures it."""
    from vmkit import lab
    a = lab.run(workload, engine, iterations=small, model=preset)
    b = lab.run(workload, engine, iterations=large, model=preset)
    return {k: (b.cycles[k] - a.cycles[k]) / (large - small) for k in b.cycles}


def loop_exits(engine, iterations):
    """What a student counts for q1: every exit of a csr run but the console's mmio ones."""
    from vmkit import lab
    exits = lab.run("csr", engine, iterations=iterations).counters["exits"]
    return sum(count for reason, count in exits.items() if reason != "mmio")


def test_the_key_follows_the_reasoning_for_200_seeds(hw):
    hw1, key = hw
    measured = {}
    q3_answers = set()
    for seed in SEEDS:
        v, answers = hw1.Variant(seed), key.answers(seed)
        # Both cli and sti trap under trap-and-emulate; bt translates them into plain code.
        assert answers["q1_trap"] == 2 * (v.n_large - v.n_small), seed
        assert answers["q1_bt"] == 0, seed
        for run in (v.q3_run, v.q4_run):
            if run not in measured:
                measured[run] = notebook02_per_iteration(*run)
        cycles3 = measured[v.q3_run]
        assert answers["q3"] == max(cycles3, key=cycles3.get), seed
        assert answers["q4"] == round(sum(measured[v.q4_run].values())), seed
        q3_answers.add(answers["q3"])
    # Seeds vary what q3 asks: different runs are dominated by different categories.
    assert len(q3_answers) >= 3, q3_answers


def test_every_q3_run_has_a_clear_winner(hw):
    """A near tie would make q3 a coin toss: the largest category leads by a quarter at least."""
    hw1, _ = hw
    for run in hw1.Q3_RUNS:
        first, second = sorted(notebook02_per_iteration(*run).values(), reverse=True)[:2]
        assert first >= 1.25 * second, (run, first, second)


# 2: 6 and 27 iterations, 3: 18 and 103, 19: 5 and 115 (one and three digits), 7: 23 and 52.
@pytest.mark.parametrize("seed", [2, 3, 19, 7])
def test_the_key_equals_a_direct_measurement(hw, seed):
    """What the student runs (the seed's own loop lengths, whose printed counts differ in
    digits for all but seed 7: what broke the old key) gives the key's answer: printing does
    not leak into q1, and per-iteration counts are linear (q4 measured at other lengths agrees)."""
    hw1, key = hw
    v, answers = hw1.Variant(seed), key.answers(seed)
    assert (len(str(v.n_small)) != len(str(v.n_large))) == (seed != 7)
    for engine in ("trap", "bt"):
        assert (loop_exits(engine, v.n_large) - loop_exits(engine, v.n_small)
                == answers[f"q1_{engine}"])
    from vmkit import lab
    workload, engine, preset = v.q4_run
    a = lab.run(workload, engine, iterations=20, model=preset).total_cycles
    b = lab.run(workload, engine, iterations=45, model=preset).total_cycles
    assert abs((b - a) / 25 - answers["q4"]) <= 0.5


def test_the_seed_is_a_stable_hash_of_the_student_id(hw):
    hw1, _ = hw
    expected = int.from_bytes(hashlib.sha256(b"vmkit-hw1:AB12CD").digest()[:4], "big")
    assert hw1.seed_of("AB12CD") == hw1.seed_of("  AB12CD\n") == expected
    seeds = {hw1.seed_of(f"student{i}") for i in range(1000)}
    assert len(seeds) == 1000
    for missing in ("", "   ", ...):
        with pytest.raises(ValueError, match="STUDENT_ID"):
            hw1.seed_of(missing)


def sret_mutants(hw1):
    """Wrong sret emulations, each with the sentence the check must say."""
    def right_but(skip):
        def my_sret(state):
            spp, spie = state.sstatus >> 8 & 1, state.sstatus >> 5 & 1
            if skip != "priv":
                state.priv = spp
            if skip != "sie":
                state.sstatus = state.sstatus & ~2 | spie << 1
            if skip != "spie":
                state.sstatus |= 1 << 5
            if skip != "spp":
                state.sstatus &= ~(1 << 8)
            if skip != "pc":
                state.pc = state.sepc
            if skip == "others":
                state.sstatus &= 0x1FF
        return my_sret
    return {"priv": "the mode (priv) must become sstatus.SPP",
            "sie": "sstatus.SIE must become the old SPIE",
            "spie": "after sret, sstatus.SPIE must be 1",
            "spp": "after sret, sstatus.SPP must be 0 (U)",
            "pc": "pc must be sepc",
            "others": "sret changes only SIE, SPIE and SPP"}, right_but


@pytest.mark.parametrize("field", ["priv", "sie", "spie", "spp", "pc", "others"])
def test_a_wrong_sret_is_told_which_field_is_wrong(hw, field, capsys):
    hw1, _ = hw
    messages, right_but = sret_mutants(hw1)
    hw1.check_sret(right_but(field))
    said = capsys.readouterr().out
    assert messages[field] in said, said
    assert "ok" != said.strip()


def test_the_reference_sret_passes_and_runs_tinyos(hw, capsys):
    hw1, key = hw
    messages, right_but = sret_mutants(hw1)
    hw1.check_sret(key.reference_sret)
    assert capsys.readouterr().out.strip() == "ok"
    hw1.check_sret(right_but(None))                         # the mutant scaffold itself is right
    assert capsys.readouterr().out.strip() == "ok"


def test_an_exception_in_my_sret_shows_its_traceback(hw, capsys):
    hw1, _ = hw

    def my_sret(state):
        state.sstatus = state.sstatuss | 2                  # a typo
    hw1.check_sret(my_sret)
    said = capsys.readouterr().out
    assert "Traceback" in said and "in my_sret" in said and "AttributeError" in said


def test_a_sret_right_on_every_field_but_wrong_in_the_kernel_is_caught(hw):
    """The unit cases run from S-mode; one that breaks the kernel still fails the full run."""
    hw1, key = hw
    calls = []

    def my_sret(state):
        key.reference_sret(state)
        calls.append(1)
        if len(calls) > 8:                     # past the unit cases: skip an instruction
            state.pc += 4
    assert hw1.sret_problems(my_sret) == []
    assert hw1.tinyos_problem(my_sret)


# -- the student's files hold no key --------------------------------------------------------

def student_files():
    return [p for p in STUDENT.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and p.name != ".OTTER_LOG"]          # otter's log of a local run, not committed


def student_code(path):
    """A student file's code: a notebook's code cells (its prose names the API to use)."""
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    book = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in book["cells"] if c["cell_type"] == "code")


def test_the_student_files_hold_no_answers_and_no_reference_sret(hw):
    _, key = hw
    code = {p: student_code(p) for p in student_files()}
    assert STUDENT / "hw1.py" in code and STUDENT / "hw1-cpu-virtualization.ipynb" in code
    sret_lines = [line.strip() for line in inspect.getsource(key.reference_sret).splitlines()
                  if line.strip().startswith("state.")]
    assert len(sret_lines) == 4
    # What computes an answer: measuring runs, the key, hidden tests, the solution's lines.
    forbidden = ["hw1_key", "reference_sret", "answers(", "counters[", "cycles[", "cycles.get",
                 "total_cycles", "lab.run(", "'hidden': True", '"hidden": true'] + sret_lines
    for path, content in code.items():
        for needle in forbidden:
            assert needle not in content, f"{path.relative_to(ROOT)} contains {needle!r}"


@pytest.mark.parametrize("name", ["q1_trap", "q1_bt", "q3", "q4"])
def test_a_wrong_answer_is_failed_without_showing_the_right_one(hw, name, capsys):
    hw1, key = hw
    student = "AB12CD"
    right = key.answers(hw1.seed_of(student))[name]
    if name == "q3":
        wrong = "memory" if right != "memory" else "io"
    else:
        wrong = right + 2 if name.startswith("q1") else right * 2
    assert key.check(name, right, student)
    capsys.readouterr()
    assert not key.check(name, wrong, student)
    said = capsys.readouterr().out
    assert said.strip() and not re.search(rf"\b{re.escape(str(right))}\b", said), said


# -- homework 2: memory virtualization ------------------------------------------------------

@pytest.fixture(scope="module")
def hw2():
    """(student module, key module), imported from instructor/hw2 (the source of both)."""
    sys.path.insert(0, str(INSTRUCTOR2))
    import hw2
    import hw2_key
    yield hw2, hw2_key
    sys.path.remove(str(INSTRUCTOR2))


def levels_walked(engine, gstage_page, megapage):
    """(n, m): guest levels and G-stage levels one walk reads (a 4 MiB leaf is in the root).
    Under native and emulate no table translates guest-physical addresses (emulate looks
    guest RAM up, as QEMU's softmmu does): m = 0."""
    return 1 if megapage else 2, (0 if engine != "hw" else 2 if gstage_page == 4096 else 1)


def shadow_as_a_tlb(pages, trace):
    """(hidden, true) faults of `trace`, reasoned as shadow.py describes a shadow: a cache
    filled on a miss, a page mapped writable only once its guest PTE is dirty, and a fault the
    guest's own PTE causes (not mapped; a store to a read-only page) reflected and never filled."""
    shadow, dirty, hidden, true = {}, {}, 0, 0          # page -> writable in the shadow
    for op, page in trace:
        kind = pages[page]
        if kind == "not mapped" or op == "store" and kind == "read-only":
            true += 1
            continue
        dirty.setdefault(page, kind == "read-write, A and D set")
        if op == "store":
            if not shadow.get(page):            # missing, or mapped read-only until dirty
                hidden += 1
            dirty[page] = shadow[page] = True
        elif page not in shadow:
            hidden += 1
            shadow[page] = dirty[page]
    return hidden, true


def test_hw2_key_follows_the_reasoning_for_200_seeds(hw2):
    """q1 is (n+1)(m+1)-1 (paging.references_2d: the lecture's 2D walk), q3 what a shadow
    filled like a TLB gives, q4 the letter the seed gave the right option."""
    from vmkit.hw.paging import references_2d
    student, key = hw2
    configs, q3_answers = set(), set()
    for seed in SEEDS:
        v, answers = student.Variant(seed), key.answers(seed)
        for name, config in (("q1a", v.q1a), ("q1b", v.q1b)):
            assert answers[name] == references_2d(*levels_walked(*config)), (seed, config)
            configs.add(config)
        assert v.q1a[0] == "hw" and v.q1a != v.q1b
        assert (answers["q3_hidden"], answers["q3_true"]) == shadow_as_a_tlb(v.pages, v.trace)
        q3_answers.add((answers["q3_hidden"], answers["q3_true"]))
        assert v.q4_options["abcde".index(answers["q4"])].startswith("The spec lets a hart")
    # Seeds vary what is asked: every configuration, and many different fault counts.
    assert configs == set(student.Q1_CONFIGS)
    assert len(q3_answers) >= 5, q3_answers


def test_hw2_q1_counts_the_hand_worked_walks(hw2):
    """The four configurations tests/test_nested_paging.py works out by hand (native 2, hw
    with 4 MiB G-stage leaves 5, with 4 KiB ones 8) and a guest megapage under 4 MiB G-stage
    leaves: (1+1)(1+1)-1 = 3 (G root for the VS root PTE's address, the VS root PTE, which is
    the leaf, G root for the data)."""
    _, key = hw2
    assert key.walk_references("native", None, False) == 2
    assert key.walk_references("hw", 4 << 20, False) == 5
    assert key.walk_references("hw", 4096, False) == 8
    assert key.walk_references("hw", 4 << 20, True) == 3


def test_hw2_the_seed_is_a_stable_hash_of_the_student_id(hw2):
    student, _ = hw2
    expected = int.from_bytes(hashlib.sha256(b"vmkit-hw2:AB12CD").digest()[:4], "big")
    assert student.seed_of("AB12CD") == student.seed_of(" AB12CD\n") == expected
    for missing in ("", "   ", ...):
        with pytest.raises(ValueError, match="STUDENT_ID"):
            student.seed_of(missing)


def shadow_pte_mutants(hw2):
    """Wrong shadow leaves, each with the sentence the check must say: the reference with one
    rule broken."""
    student, key = hw2
    V, R, W, X, U, G, A, D = (student.V, student.R, student.W, student.X, student.U, student.G,
                              student.A, student.D)

    def broken(rule):
        def shadow_pte(guest_pte, host_frame, user, mxr):
            leaf = key.reference_shadow_pte(guest_pte, host_frame, user, mxr)
            return {"frame": leaf + (1 << 10), "v": leaf & ~V, "u": leaf & ~U,
                    "ad": leaf & ~(A | D), "g": leaf | guest_pte & G, "rsw": leaf | 1 << 8,
                    "r": leaf & ~R if guest_pte & X and not guest_pte & R else leaf,
                    "w": leaf | guest_pte & W, "x": leaf | guest_pte & X}[rule]
        return shadow_pte
    return {"frame": "PPN (bits 31:10) must be host_frame >> 12", "v": "V must be set",
            "u": "U must be set", "ad": "A and D must be set", "g": "G must be clear",
            "rsw": "RSW bits", "r": "R: readable when the guest PTE has R, or X with mxr",
            "w": "W only once the guest PTE is dirty (D)",
            "x": "S-mode never executes user pages"}, broken


@pytest.mark.parametrize("rule", ["frame", "v", "u", "ad", "g", "rsw", "r", "w", "x"])
def test_hw2_a_wrong_shadow_pte_is_told_which_rule_it_breaks(hw2, rule, capsys):
    student, key = hw2
    messages, broken = shadow_pte_mutants(hw2)
    student.check_shadow_pte(broken(rule))
    said = capsys.readouterr().out
    assert messages[rule] in said, said
    assert not key.check_shadow_pte(broken(rule))


def test_hw2_the_reference_shadow_pte_passes_in_the_trap_engine(hw2, capsys):
    student, key = hw2
    student.check_shadow_pte(key.reference_shadow_pte)
    assert capsys.readouterr().out.strip() == "ok"
    assert key.check_shadow_pte(key.reference_shadow_pte)


def test_hw2_the_engine_run_catches_what_the_unit_cases_miss(hw2):
    """A shadow_pte right for the check's own host frame but writable before D for any other:
    the trace guest loads, then stores, to a read-write page; natively the store sets D in
    its PTE; with this leaf the store does not fault, the VMM never sets D, and the guest's
    RAM (its page table) differs from native's."""
    student, key = hw2

    def shadow_pte(guest_pte, host_frame, user, mxr):
        leaf = key.reference_shadow_pte(guest_pte, host_frame, user, mxr)
        return leaf if host_frame == student.FRAME else leaf | guest_pte & student.W
    assert student.shadow_pte_problems(shadow_pte) == []
    assert "left other bytes in its RAM" in student.paging_problem(shadow_pte)


def test_hw2_a_leaf_for_another_frame_is_refused_by_the_vmm(hw2):
    """Isolation holds whatever the student returns: the VMM maps no frame but host_frame."""
    student, key = hw2

    def shadow_pte(guest_pte, host_frame, user, mxr):
        return key.reference_shadow_pte(guest_pte, host_frame + 4096, user, mxr)
    said = student.paging_problem(shadow_pte)
    assert "ValueError" in said and "the frame host_frame" in said


def test_hw2_an_exception_in_shadow_pte_shows_its_traceback(hw2, capsys):
    student, _ = hw2

    def shadow_pte(guest_pte, host_frame, user, mxr):
        return guest_pte.flags                  # a typo
    student.check_shadow_pte(shadow_pte)
    said = capsys.readouterr().out
    assert "Traceback" in said and "in shadow_pte" in said and "AttributeError" in said


def test_hw2_the_student_files_hold_no_answers_and_no_reference(hw2):
    _, key = hw2
    code = {p: student_code(p) for p in student_files()}
    assert STUDENT / "hw2.py" in code and STUDENT / "hw2-memory-virtualization.ipynb" in code
    # What computes an answer: the key, the VMM's own shadow leaf, measuring the guests.
    forbidden = ["hw2_key", "reference_shadow_pte", "shadow_flags", "answers(", "Q4_RIGHT",
                 "statistics(", "as_dict(", "walk_references", "hidden_faults", "true_faults",
                 "'hidden': True", '"hidden": true', "leaf |= hw2."]
    for path, content in code.items():
        for needle in forbidden:
            assert needle not in content, f"{path.relative_to(ROOT)} contains {needle!r}"


@pytest.mark.parametrize("name", ["q1a", "q1b", "q3_hidden", "q3_true", "q4"])
def test_hw2_a_wrong_answer_is_failed_without_showing_the_right_one(hw2, name, capsys):
    student, key = hw2
    right = key.answers(student.seed_of("AB12CD"))[name]
    wrong = "abcde"["abcde".index(right) - 1] if name == "q4" else right + 1
    assert key.check(name, right, "AB12CD")
    capsys.readouterr()
    assert not key.check(name, wrong, "AB12CD")
    said = capsys.readouterr().out
    assert said.strip() and not re.search(rf"\b{re.escape(str(right))}\b", said), said


# -- homework 3: I/O virtualization ---------------------------------------------------------

@pytest.fixture(scope="module")
def hw3():
    """(student module, key module), imported from instructor/hw3 (the source of both)."""
    sys.path.insert(0, str(INSTRUCTOR3))
    import hw3
    import hw3_key
    yield hw3, hw3_key
    sys.path.remove(str(INSTRUCTOR3))


def follow_chain(student, v):
    """q1 by hand, as the question's text tells it (not through Virtqueue): from the head at
    ring[last_avail % 8] follow `next` while NEXT is set; a ninth descriptor means a loop, an
    index of 8 or more is outside the table, a readable buffer after a writable one is wrong."""
    index, buffers = v.q1_ring[v.q1_taken % 8], []
    while True:
        if index >= 8 or len(buffers) == 8:
            return student.NEEDS_RESET
        addr, length, flags, nxt = v.q1_table[index]
        writable = bool(flags & 2)
        if buffers and buffers[-1][2] == "writable" and not writable:
            return student.NEEDS_RESET
        buffers.append((addr, length, "writable" if writable else "readable"))
        if not flags & 1:
            return buffers
        index = nxt


def batches_by_reasoning(requests, batch, queue_size):
    """(notifications, {mode: interrupts}) of q2's driver: a queue of Q descriptors holds
    Q // 3 requests of 3, so a batch of b takes ceil(b / (Q // 3)) notifications, the device
    serving all that is available at each. Plain: one interrupt per notification (each one
    served something). NO_INTERRUPT: none. used_event at a batch's last request: the
    notifications inside the batch serve requests before it, so one interrupt per batch.
    used_event at N - 1: one, at the last notification."""
    room = queue_size // 3
    sizes = [min(batch, requests - start) for start in range(0, requests, batch)]
    notes = sum(-(-size // room) for size in sizes)
    return notes, {"plain": notes, "no-interrupt": 0, "event-idx per batch": len(sizes),
                   "event-idx once": 1}


def pio_trace(v):
    """q3's emulated read as the list of register accesses the question's protocol makes."""
    setup = ["write LBA"] * v.lba_registers + ["write count", "write command"]
    trace = list(setup) if v.one_command else []
    for _ in range(8):
        if not v.one_command:
            trace += setup
        trace += ["read status"] * v.busy_polls
        trace += ["read data"] * (512 // v.data_width)
        trace += ["read status (ack)"]
    return trace


def test_hw3_key_follows_the_reasoning_for_200_seeds(hw3):
    """q1 is the chain followed by hand; q2 the counts reasoned in batches_by_reasoning; q3's
    accesses the protocol's trace, the emulated figure 2000 + 1178 cycles per access (vm_exit and
    device_model of 'modern'), the virtio one a notification shared by the batch plus one cycle
    per byte, of which the 4 KiB of data and at most 5% more for the rings; q4 the right
    options' letters. Seeds vary: every flaw of q1, every mode of q2, both protocols."""
    student, key = hw3
    flaws, modes, q1_kinds, protocols = set(), set(), set(), set()
    for seed in SEEDS:
        v, answers = student.Variant(seed), key.answers(seed)
        assert answers["q1"] == follow_chain(student, v), seed
        assert (answers["q1"] == student.NEEDS_RESET) == (v.q1_flaw != "none"), seed
        notes, interrupts = batches_by_reasoning(v.q2_requests, v.q2_batch, v.q2_queue)
        assert answers["q2_notifications"] == notes, seed
        assert answers["q2_interrupts_a"] == interrupts[v.q2_modes[0]], seed
        assert answers["q2_interrupts_b"] == interrupts[v.q2_modes[1]], seed
        assert answers["q3_accesses"] == len(pio_trace(v)), seed
        assert answers["q3_emulated"] == 3178 * len(pio_trace(v)), seed
        floor = 3178 / v.q3_batch + 4096
        assert floor < answers["q3_virtio"] < 1.05 * floor, seed
        assert answers["q3_emulated"] > 100 * answers["q3_virtio"]          # emulated >> virtio
        for name, (_, options) in student.Q4_QUESTIONS.items():
            assert v.q4_options[name]["abcd".index(answers[name])] == options[0], seed
        flaws.add(v.q1_flaw)
        modes.update(v.q2_modes)
        q1_kinds.add(len(answers["q1"]) if answers["q1"] != student.NEEDS_RESET else 0)
        protocols.add((v.one_command, v.data_width, v.lba_registers))
    assert flaws == {"none", "loop", "readable after writable", "next beyond the table"}
    assert modes == set(student.Q2_MODES) and q1_kinds == {0, 2, 3}
    assert len(protocols) == 8


def test_hw3_q1_reads_the_hand_worked_table(hw3):
    """Seed 7: the device took 23 requests, so its next head is ring[23 % 8] = ring[7] = 6;
    descriptor 6 is 16 bytes at 0x80200200 with NEXT (readable) to 7, descriptor 7 one
    byte at 0x80201d0d with WRITE and no NEXT (its next field, 1, is ignored): a header and a
    status, a flush-sized request."""
    student, key = hw3
    v = student.Variant(7)
    assert v.q1_taken == 23 and v.q1_ring[7] == 6
    assert key.next_request(v) == [(0x80200200, 16, "readable"), (0x80201D0D, 1, "writable")]


def test_hw3_q2_counts_the_hand_worked_batches(hw3):
    """N = 15 in batches of 6 on 8 descriptors (2 requests of 3 fit): batches 6, 6, 3 take
    3 + 3 + 2 = 8 notifications; plain 8 interrupts, NO_INTERRUPT 0, used_event per batch 3,
    used_event at the end 1. With 16 descriptors (5 fit): 2 + 2 + 1 = 5."""
    _, key = hw3
    assert [key.run_batches(15, 6, 8, mode) for mode in
            ("plain", "no-interrupt", "event-idx per batch", "event-idx once")] == \
        [(8, 8), (8, 0), (8, 3), (8, 1)]
    assert key.run_batches(15, 6, 16, "plain") == (5, 5)


def test_hw3_the_driver_serves_real_reads(hw3):
    """The public Driver's requests reach the disk: the data a read returns is the disk's."""
    student, _ = hw3
    driver = student.Driver(8)
    driver.device.disk.write(16, b"\xab" * 4096)
    assert driver.post(sector=16) and not driver.device.broken
    driver.notify()
    assert driver.interrupted() and driver.reap() == [0]
    assert driver.vm.read_guest(student.DATA + 0x1000, 4096) == b"\xab" * 4096
    assert driver.vm.read_guest(student.DATA + 0x20, 1) == b"\0"           # VIRTIO_BLK_S_OK


def test_hw3_the_seed_is_a_stable_hash_of_the_student_id(hw3):
    student, _ = hw3
    expected = int.from_bytes(hashlib.sha256(b"vmkit-hw3:AB12CD").digest()[:4], "big")
    assert student.seed_of("AB12CD") == student.seed_of(" AB12CD\n") == expected
    for missing in ("", "   ", ...):
        with pytest.raises(ValueError, match="STUDENT_ID"):
            student.seed_of(missing)


def test_hw3_io_cycles_is_checked_on_the_seeds_counters(hw3, capsys):
    """The reference passes; one that forgets the device model's trip fails with a hint that
    names the constants, not a value."""
    _, key = hw3
    assert key.check_io_cycles(key.reference_io_cycles, "AB12CD")
    assert capsys.readouterr().out == ""

    def io_cycles(exits, dma_bytes):
        return exits * 2000 + dma_bytes
    assert not key.check_io_cycles(io_cycles, "AB12CD")
    said = capsys.readouterr().out
    assert "vm_exit + device_model" in said and "3178" not in said


def test_hw3_the_student_files_hold_no_answers_and_no_reference(hw3):
    _, key = hw3
    code = {p: student_code(p) for p in student_files()}
    assert STUDENT / "hw3.py" in code and STUDENT / "hw3-io-virtualization.ipynb" in code
    # What computes an answer: the key, the device's own chain parser, the cost model.
    forbidden = ["hw3_key", "answers(", "Q4_RIGHT", "reference_io_cycles", "Virtqueue(",
                 ".pop()", "VirtqueueError", ".total(", "estimate(", "constants[", "run_batches",
                 "pio_accesses", "'hidden': True", '"hidden": true']
    for path, content in code.items():
        for needle in forbidden:
            assert needle not in content, f"{path.relative_to(ROOT)} contains {needle!r}"


@pytest.mark.parametrize("name", ["q1", "q2_notifications", "q2_interrupts_a",
                                  "q2_interrupts_b", "q3_accesses", "q3_emulated", "q3_virtio",
                                  "q4a", "q4b", "q4c"])
def test_hw3_a_wrong_answer_is_failed_without_showing_the_right_one(hw3, name, capsys):
    student, key = hw3
    right = key.answers(student.seed_of("AB12CD"))[name]
    if name == "q1":
        wrong = student.NEEDS_RESET if right != student.NEEDS_RESET else [(0x80200000, 16,
                                                                           "readable")]
    elif name.startswith("q4"):
        wrong = "abcd"["abcd".index(right) - 1]
    elif name == "q3_virtio":
        wrong = right * 1.1                      # outside the 5% an estimate may miss by
    else:
        wrong = right + 2
    assert key.check(name, right, "AB12CD")
    capsys.readouterr()
    assert not key.check(name, wrong, "AB12CD")
    said = capsys.readouterr().out
    if name.startswith("q4"):                    # a letter is a word of any sentence
        shown = [f"'{right}'", f'"{right}"', f"({right})"]
    elif name == "q1" and right != student.NEEDS_RESET:
        shown = [f"{addr:#x}" for addr, _, _ in right] + [str(addr) for addr, _, _ in right]
    else:
        shown = [str(right), str(round(right)) if isinstance(right, float) else str(right)]
    assert said.strip() and not any(re.search(rf"(?<!\w){re.escape(s)}(?!\w)", said)
                                    for s in shown), said


def test_hw3_q1_takes_what_its_public_check_takes(hw3, capsys):
    """A list or a tuple of buffers, each a tuple or a list: the public check says ok to all
    four spellings, and the hidden one accepts each of them."""
    student, key = hw3
    student_id = next(f"s{i}" for i in range(100)
                      if student.Variant(student.seed_of(f"s{i}")).q1_flaw == "none")
    right = key.answers(student.seed_of(student_id))["q1"]
    for spelling in (right, tuple(right), [list(b) for b in right],
                     tuple(list(b) for b in right)):
        student.check_request(spelling)
        assert capsys.readouterr().out.strip() == "ok"
        assert key.check("q1", spelling, student_id)


def test_hw3_q3_counts_what_vmkits_ata_disk_is_driven_with(hw3):
    """The seeds whose protocol is vmkit's emulated ATA disk (vmkit/vmm/io/ata.py: four LBA
    registers, a 32-bit data register, BSY never seen, so one status read shows DRQ): a driver
    that follows the question's protocol word for word on an AtaDisk reads the disk's 4 KiB and
    makes exactly q3_accesses register accesses, each status poll finding DRQ set."""
    from vmkit.vmm.io import ata
    from vmkit.vmm.io.disk import RawDisk
    student, key = hw3
    variants = {seed: student.Variant(seed) for seed in SEEDS}
    seeds = [seed for seed, v in variants.items()
             if (v.lba_registers, v.data_width, v.busy_polls) == (4, 4, 1)]
    assert {variants[seed].one_command for seed in seeds} == {True, False}
    image = bytes(range(256)) * 64                               # 16 KiB: 32 sectors
    for seed in seeds:
        v = variants[seed]
        device = ata.AtaDisk(RawDisk(data=image))
        accesses = []

        def read(offset, size=1):
            accesses.append(offset)
            return device.read(offset, size)

        def write(offset, value):
            accesses.append(offset)
            device.write(offset, 1, value)

        def command(lba, count):
            for offset, shift in ((ata.LBA_LOW, 0), (ata.LBA_MID, 8), (ata.LBA_HIGH, 16)):
                write(offset, lba >> shift & 0xFF)
            write(ata.DEVICE, 0x40 | lba >> 24)
            write(ata.SECTOR_COUNT, count)
            write(ata.COMMAND, ata.READ_SECTORS)
        data = b""
        if v.one_command:
            command(8, 8)
        for sector in range(8):
            if not v.one_command:
                command(8 + sector, 1)
            assert read(ata.STATUS) & ata.DRQ
            data += b"".join(read(ata.DATA, 4).to_bytes(4, "little") for _ in range(128))
            read(ata.STATUS)
        assert data == image[8 * 512:16 * 512], seed
        assert len(accesses) == key.answers(seed)["q3_accesses"], seed
