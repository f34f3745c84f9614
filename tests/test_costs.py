"""The cost model (vmkit.vmm.costs): sources, linearity, the literature's orderings, RunResult.

Expected cycle figures come from Adams & Agesen, "A Comparison of Software and Hardware
Techniques for x86 Virtualization", ASPLOS 2006 (their nanobenchmark table), quoted beside each use.
"""

import json
import re

import pytest
from hypothesis import given, settings, strategies as st

from vmkit.vmm.costs import PRESETS, UNITS, CostError, CostModel, RunResult, cost_model

CATEGORIES = {"execute", "emulate", "translate", "exits", "hypercalls", "interrupts",
              "memory", "io"}
REFERENCES = ("Adams & Agesen", "SplitX", "LKML 2020")


# --- every constant has a unit and a source ----------------------------------------------------

@pytest.mark.parametrize("name", PRESETS)
def test_every_constant_has_a_source(name):
    model = PRESETS[name]
    assert set(model.constants) == set(UNITS)
    for constant, source in model.sources.items():
        # A source is a published reference, a derivation or an admitted assumption.
        assert source.startswith(("derived:", "assumption:")) or any(
            ref in source for ref in REFERENCES), (constant, source)
        if source.startswith("derived:"):
            assert "=" in source, f"{constant}: a derivation shows its arithmetic"


@pytest.mark.parametrize("name", PRESETS)
def test_arithmetic_in_sources_is_right(name):
    # Every "a - b = c" or "a / b = c" written in a source must hold (to the nearest cycle).
    found = 0
    for source in PRESETS[name].sources.values():
        for a, op, b, c in re.findall(r"(\d+) ([-/+]) (\d+) = (\d+)", source):
            a, b, c = int(a), int(b), int(c)
            value = {"-": a - b, "+": a + b, "/": a / b}[op]
            assert round(value) == c, (a, op, b, c)
            found += 1
    assert found >= 5


def test_p4_derived_values_match_their_arithmetic():
    # The constants the p4-2006 preset derives, recomputed from Adams & Agesen's table.
    c = PRESETS["p4-2006"].constants
    assert c["vm_exit"] == 12733 - 391            # ptemod: VT minus BT
    assert c["device_model"] == 15826 - c["vm_exit"]  # in: VT minus the VM exit
    assert c["bt_callout"] == round(3209 / 15)     # in: ~15x faster than native under BT
    assert c["tc_lookup"] == 51 - 11               # call/ret: BT minus native
    assert c["device_access"] + c["cpi"] == 3209   # in: native, the instruction included
    assert c["pt_fill"] == (3927 - 1093) - (3223 - 889)  # pgfault minus divzero overheads
    assert PRESETS["modern"].constants["device_model"] == 2528 - 1350   # LKML 2020


def test_describe_and_table_list_every_constant():
    model = PRESETS["p4-2006"]
    text = model.describe()
    rows = model.table()
    assert [row["constant"] for row in rows] == list(UNITS)
    for row in rows:
        assert set(row) == {"preset", "constant", "value", "unit", "source"}
        assert row["constant"] in text and row["source"] in text
    assert "12342" in text


# --- estimate -----------------------------------------------------------------------------------

def test_empty_counters_cost_nothing():
    for model in PRESETS.values():
        cycles = model.estimate({})
        assert set(cycles) == CATEGORIES
        assert model.total({}) == 0


def test_each_counter_is_priced_by_its_constant():
    model = cost_model("p4-2006")
    c = model.constants
    counters = {"direct_instructions": 1000, "emulated_instructions": 10,
                "translated_instructions": 5, "tc_hits": 3, "tc_callouts": 2,
                "tc_invalidations": 1, "exits": {"ecall": 2, "page_fault": 1},
                "hypercalls": 4, "interrupts_injected": 6, "walk_references": 8,
                "device_exits": 1, "dma_bytes": 512, "guest_instructions": 9999,
                "tc_guest_instructions": 300, "tc_host_instructions": 1200,
                "direct_device_accesses": 7, "true_faults": 2, "shadow_switches": 3,
                "shadow_fences": 4}
    cycles = model.estimate(counters)
    assert cycles == {
        # 300 of the 1000 direct guest instructions ran as 1200 host instructions.
        "execute": (700 + 1200) * c["cpi"],
        "emulate": 10 * c["emulate"],
        "translate": 5 * c["translate"] + 3 * c["tc_lookup"] + 2 * c["bt_callout"]
        + c["tc_invalidation"],
        "exits": 3 * c["trap_roundtrip"],
        "hypercalls": 4 * c["hypercall"],
        "interrupts": 6 * c["inject"],
        # One hidden fault (the page_fault exit), two true ones, the shadow switches and fences.
        "memory": 8 * c["walk_reference"] + (1 + 2) * c["pt_fill"] + 2 * c["inject"]
        + 3 * c["shadow_switch"] + 4 * c["shadow_fence"],
        "io": c["device_model"] + 512 * c["dma_byte"] + 7 * c["device_access"],
    }
    assert model.total(counters) == sum(cycles.values())
    # Under hardware assistance the same 3 exits are VM exits; nothing else changes.
    hw = model.estimate(counters, vm_exits=True)
    assert hw["exits"] == 3 * c["vm_exit"]
    assert {k: v for k, v in hw.items() if k != "exits"} == {
        k: v for k, v in cycles.items() if k != "exits"}


COUNT = st.integers(min_value=0, max_value=10**9)
REASONS = st.sampled_from(["sbi", "hypercall", "illegal_instruction", "virtual_instruction",
                           "guest_page_fault", "mmio", "interrupt", "wfi", "ecall",
                           "page_fault", "other"])
COUNTERS = st.fixed_dictionaries({}, optional={
    key: COUNT for key in ("direct_instructions", "emulated_instructions",
                           "translated_instructions", "hypercalls", "interrupts_injected",
                           "tlb_hits", "tlb_misses", "walk_references", "tc_fills", "tc_hits",
                           "tc_invalidations", "tc_callouts", "device_exits", "dma_bytes",
                           "tc_host_instructions", "direct_device_accesses",
                           "hidden_faults", "true_faults", "shadow_switches", "shadow_fences")
} | {"exits": st.dictionaries(REASONS, COUNT)})


@settings(max_examples=200, deadline=None)
@given(COUNTERS, st.sampled_from(list(PRESETS)), st.booleans())
def test_estimate_is_linear(counters, preset, vm_exits):
    # Each event has a fixed price, so doubling every count doubles every category.
    model = PRESETS[preset]
    doubled = {k: ({r: 2 * n for r, n in v.items()} if k == "exits" else 2 * v)
               for k, v in counters.items()}
    once = model.estimate(counters, vm_exits)
    assert model.estimate(doubled, vm_exits) == {k: 2 * v for k, v in once.items()}
    assert all(v >= 0 for v in once.values())


# --- the literature's orderings -----------------------------------------------------------------

@pytest.mark.parametrize("name", PRESETS)
def test_exiting_on_every_privileged_instruction_costs_more(name):
    # The same 10,500 guest instructions, 500 of them privileged (csrw, sret, sfence.vma):
    # trap-and-emulate exits on each and emulates it; hardware assistance runs them in VS mode
    # without exits (its VS CSRs), so it pays only the direct execution.
    model = PRESETS[name]
    trap = {"direct_instructions": 10_000, "emulated_instructions": 500,
            "exits": {"illegal_instruction": 500}}
    hw = {"direct_instructions": 10_500}
    assert model.total(trap) > model.total(hw, vm_exits=True)
    assert model.total(trap, vm_exits=True) > model.total(hw, vm_exits=True)


# Adams & Agesen's nanobenchmarks as counters. One run of each: `native` is the paper's native
# cycle count, charged as that many directly executed instructions (cpi = 1); the BT and VT
# (`hw`) rows add the events each VMM needs. Paper figures: (native, BT, VT).
NANO = {
    # A guest syscall: under VT the guest's own kernel takes it (no exit); the BT VMM catches
    # and reflects it (exit "ecall"). Paper: BT = native + ~2000, VT = native.
    "syscall": ((None, "+2000", "=native"), None, {"exits": {"ecall": 1}}, {}),
    # `in`: natively one instruction and one trip to the device; VT exits to the device
    # model; BT calls out to the VMM's emulation, no trap.
    "in": ((3209, 214, 15826), 1, {"tc_callouts": 1},
           {"exits": {"mmio": 1}, "device_exits": 1}),
    # call/ret: BT must look the return target up in the translation cache.
    "call/ret": ((11, 51, 11), 11, {"tc_hits": 1}, {}),
    # A genuine guest page fault, shadow paging in both (the P4 had no nested paging): the
    # VMM walks the guest tables and reflects the fault (BT: a true fault, costs.py).
    "pgfault": ((1093, 3927, 11242), 1093, {"exits": {"exception": 1}, "true_faults": 1},
                {"exits": {"page_fault": 1}}),
    # Divide by zero: VT delivers it to the guest directly; BT reflects it through the VMM.
    "divzero": ((889, 3223, 1014), 889, {"exits": {"other": 1}}, {}),
    # A PTE write to a shadowed page table: VT exits, the VMM emulates the store and updates
    # the shadow; BT's adaptive translation turns the traced store into a callout.
    "ptemod": ((1, 391, 12733), 1, {"tc_callouts": 1},
               {"exits": {"guest_page_fault": 1}, "emulated_instructions": 1}),
}


def nano_costs(model, name, native=1000):
    paper, base, bt, hw = NANO[name]
    base = native if base is None else base
    cost = {}
    for engine, extra, vm_exits in (("native", {}, False), ("bt", bt, False), ("hw", hw, True)):
        counters = dict(extra, direct_instructions=base)
        if name == "in" and engine == "native":
            counters["direct_device_accesses"] = 1
        if name == "in" and engine != "native":
            counters["direct_instructions"] = 0      # the `in` itself is emulated, not run
        cost[engine] = model.total(counters, vm_exits=vm_exits)
    return paper, cost


def test_p4_syscall_vt_is_native_bt_costs_2000_more():
    _, cost = nano_costs(PRESETS["p4-2006"], "syscall")
    assert cost["hw"] == cost["native"]             # A&A: VT syscall ~ native
    assert cost["bt"] - cost["native"] == 2000      # A&A: BT syscall = native + ~2000


def test_p4_shadow_page_faults_cost_what_adams_agesen_measured():
    """A&A's pgfault: 3927 cycles under BT, 1093 native, a gap of 2834 for shadow paging.
    Its fault is one the guest handles, under shadow paging a true fault: the trap into the
    VMM and back (trap_roundtrip 2000) + the VMM's walk of the guest table (pt_fill 500) +
    reflecting it into the guest (inject 334) = 2834, the whole gap. A hidden fault (the
    guest never sees it; natively there is no fault, only a TLB-miss walk) lacks only the
    reflection: 2000 + 500 = 2500, 88% of the gap (2500 / 2834): near it, and below it."""
    model = PRESETS["p4-2006"]
    true_fault = {"exits": {"exception": 1}, "true_faults": 1}
    hidden_fault = {"exits": {"page_fault": 1}, "hidden_faults": 1}
    gap = 3927 - 1093
    assert model.total(true_fault) == gap
    assert 0.85 * gap <= model.total(hidden_fault) < gap
    _, cost = nano_costs(model, "pgfault")
    assert (cost["native"], cost["bt"]) == (1093, 3927)


def test_a_trap_run_prices_its_shadow_counters():
    """lab.run adds the engine's statistics to the row, so the shadow counters reach the
    cost model. pagefault under trap: each page is a true fault (the guest maps it on
    demand) and then a hidden one (the VMM fills its shadow), and every hidden fault is a
    page_fault exit, every true one an exception exit (its only exceptions). "memory" is
    then exactly walks + fills + reflections + switches + fences at their prices."""
    from vmkit import lab
    result = lab.run("pagefault", "trap", iterations=20, model="p4-2006")
    c, n = PRESETS["p4-2006"].constants, result.counters
    assert n["true_faults"] == 20 and n["hidden_faults"] >= 20
    assert n["hidden_faults"] == n["exits"]["page_fault"]
    assert n["true_faults"] == n["exits"]["exception"]
    assert result.cycles["memory"] == (
        n["walk_references"] * c["walk_reference"]
        + (n["hidden_faults"] + n["true_faults"]) * c["pt_fill"]
        + n["true_faults"] * c["inject"] + n["shadow_switches"] * c["shadow_switch"]
        + n["shadow_fences"] * c["shadow_fence"])
    assert n["shadow_switches"] > 0 and n["shadow_fences"] > 0


def test_p4_in_reproduces_the_paper():
    paper, cost = nano_costs(PRESETS["p4-2006"], "in")
    assert (cost["native"], cost["bt"], cost["hw"]) == (3209, 214, 15826) == paper
    assert cost["bt"] < paper[0] < cost["hw"]       # BT beats native, VT is ~5x native


@pytest.mark.parametrize("name", ["in", "call/ret", "pgfault", "divzero", "ptemod"])
def test_p4_nanobenchmarks_order_like_the_paper(name):
    (native, bt, vt), cost = nano_costs(PRESETS["p4-2006"], name)
    # The cheaper of BT and VT is the same as in the paper ...
    assert (cost["bt"] < cost["hw"]) == (bt < vt)
    # ... and every modelled figure is within a factor of two of the measured one (ptemod BT
    # is the loosest: 215 against 391; the paper's VMM does more work in that callout).
    for model_value, paper_value in ((cost["native"], native), (cost["bt"], bt),
                                     (cost["hw"], vt)):
        assert paper_value / 2 <= model_value <= paper_value * 2, (name, cost)


def mix(model, engine, weights):
    """Total cycles of a workload made of `weights[name]` runs of each nanobenchmark."""
    return sum(n * nano_costs(model, name)[1][engine] for name, n in weights.items())


# A kernel-heavy workload (process creation, demand paging, I/O, as in the paper's forkwait
# and compile runs): many PTE writes and page faults per syscall.
KERNEL_HEAVY = {"syscall": 100, "pgfault": 200, "ptemod": 1000, "in": 50, "call/ret": 5000}
# A workload of system calls and compute, no paging work.
SYSCALL_HEAVY = {"syscall": 1000, "call/ret": 1000}


def test_p4_first_generation_vt_rarely_beats_bt():
    # A&A's conclusion: first-generation VT rarely beat BT, because of costly guest/VMM
    # transitions and no MMU virtualization. It wins only where it avoids exits (syscalls).
    p4 = PRESETS["p4-2006"]
    assert mix(p4, "bt", KERNEL_HEAVY) < mix(p4, "hw", KERNEL_HEAVY)
    assert mix(p4, "hw", SYSCALL_HEAVY) < mix(p4, "bt", SYSCALL_HEAVY)


def test_modern_exits_narrow_the_gap():
    # The later exit costs (~2,000 cycles, SplitX) shrink VT's penalty on the same workload
    # by more than a factor of three against p4-2006's derived ~12,342.
    p4, modern = PRESETS["p4-2006"], PRESETS["modern"]
    p4_ratio = mix(p4, "hw", KERNEL_HEAVY) / mix(p4, "bt", KERNEL_HEAVY)
    modern_ratio = mix(modern, "hw", KERNEL_HEAVY) / mix(modern, "bt", KERNEL_HEAVY)
    assert modern_ratio * 3 < p4_ratio
    # With nested paging (Bhargava et al., ASPLOS 2008: EPT/RVI) page faults and PTE writes no longer
    # exit under hw; only the walk gets longer (Sv32 x Sv32x4: up to 8 references instead of
    # 2). Then hardware assistance beats BT on the kernel-heavy workload.
    # The hw counters are KERNEL_HEAVY's native work (syscall bodies 1000 each, as in
    # nano_costs) plus its 50 `in` exits; BT's walks stay native Sv32 (2 references).
    walks = 1000 + 200                                  # one TLB-miss walk per PTE write/fault
    hw_nested = {"direct_instructions": 100 * 1000 + 200 * 1093 + 1000 * 1 + 5000 * 11,
                 "exits": {"mmio": 50}, "device_exits": 50, "walk_references": 8 * walks}
    bt_walks = {"walk_references": 2 * walks}
    assert (modern.total(hw_nested, vm_exits=True)
            < mix(modern, "bt", KERNEL_HEAVY) + modern.total(bt_walks))


# --- the microbenchmarks, run: per-iteration costs against the paper ---------------------------

def per_iteration(workload, model, engines=("native", "trap", "bt")):
    """Estimated cycles of one more loop iteration: runs at 200 and 400 iterations (the same
    number of digits, so the final "N iterations done" line costs the same) and subtracts."""
    from vmkit import lab
    cost = {}
    for engine in engines:
        small, large = (lab.run(workload, engine, iterations=n, model=model)
                        for n in (200, 400))
        cost[engine] = (large.total_cycles - small.total_cycles) / 200
    return cost


@pytest.mark.parametrize("name", PRESETS)
def test_callret_under_bt_lands_near_the_paper(name):
    # A&A: call/ret costs 51 cycles under BT, 11 native. The bt engine answers a `ret` from
    # its inline return cache, so an iteration (call, ret, addi, bnez: 5 guest instructions)
    # costs the host instructions its translation runs. Tolerance +-30%: the paper's ratio
    # is for a P4's call/ret pair, ours for a loop iteration priced at one cycle per
    # instruction (cpi), budget charging of the blocks included.
    cost = per_iteration("callret", name)
    assert 51 / 11 * 0.7 <= cost["bt"] / cost["native"] <= 51 / 11 * 1.3, cost


@pytest.mark.parametrize("name", PRESETS)
def test_cli_sti_under_bt_costs_what_its_translation_runs(name):
    # The slide's translation runs 16 host instructions per iteration of the 4-instruction
    # loop (see test_bt.py): above native, far below trapping twice (trap-and-emulate).
    cpi = PRESETS[name].constants["cpi"]
    cost = per_iteration("csr", name)
    assert cost["native"] == 4 * cpi
    assert cost["bt"] == 16 * cpi
    assert cost["native"] < cost["bt"] < cost["trap"]


@pytest.mark.parametrize("name", PRESETS)
def test_a_native_device_read_costs_the_papers_in(name):
    # A&A: a native `in` costs 3209 cycles. The io loop's iteration is that read plus addi and
    # bnez (2 cycles): within 1% of 3209.
    cost = per_iteration("io", name, engines=("native",))
    assert 3209 * 0.99 <= cost["native"] <= 3209 * 1.01, cost


def test_a_syscall_under_bt_costs_about_2000_more_than_native():
    # A&A: a syscall under BT costs native + ~2000 (the figure trap_roundtrip is derived
    # from). Our bt adds the callout for the handler's sret and the VMM's lookup of the trap
    # vector to the trap round trip; the handler's CSR accesses run inline. Tolerance +-20%
    # ("~2000" is a rounded figure).
    cost = per_iteration("syscall", "p4-2006", engines=("native", "bt"))
    assert 2000 * 0.8 <= cost["bt"] - cost["native"] <= 2000 * 1.2, cost


# --- overrides and bad input --------------------------------------------------------------------

def test_overrides_replace_one_constant_and_say_so():
    model = cost_model("p4-2006", vm_exit=5000, dma_byte=0.5)
    assert model.constants["vm_exit"] == 5000
    assert "override" in model.sources["vm_exit"] and "12342" in model.sources["vm_exit"]
    assert model.constants["cpi"] == PRESETS["p4-2006"].constants["cpi"]
    assert model.estimate({"exits": {"mmio": 2}}, vm_exits=True)["exits"] == 10_000
    assert PRESETS["p4-2006"].constants["vm_exit"] == 12342      # the preset is unchanged
    assert cost_model().name == "modern"


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="p4-2006, modern") as err:
        cost_model("p3")
    assert isinstance(err.value, CostError) and "\n" not in str(err.value)


def test_unknown_constant_lists_the_valid_ones():
    with pytest.raises(CostError, match="vm_exit") as err:
        cost_model("modern", vmexit=1)
    assert "'vmexit'" in str(err.value) and "cpi" in str(err.value)


@pytest.mark.parametrize("value", [-1, "5", None, True, float("nan"), float("inf")])
def test_bad_constant_values_are_refused(value):
    with pytest.raises(CostError, match="vm_exit"):
        cost_model("modern", vm_exit=value)


def test_a_model_needs_every_constant_with_a_source():
    constants = dict(PRESETS["modern"].constants)
    with pytest.raises(CostError, match="source"):
        CostModel("mine", constants, {})
    del constants["cpi"]
    with pytest.raises(CostError, match="cpi"):
        CostModel("mine", constants, dict(PRESETS["modern"].sources))


@pytest.mark.parametrize("counters", [
    {"direct_instructions": -1}, {"tc_hits": 1.5}, {"dma_bytes": "10"},
    {"direct_instructions": 5, "tc_guest_instructions": 6},
    {"exits": [1, 2]}, {"exits": {"mmio": -3}}, [("direct_instructions", 1)]])
def test_bad_counters_are_refused(counters):
    with pytest.raises(CostError):
        PRESETS["modern"].estimate(counters)


# --- RunResult ----------------------------------------------------------------------------------

def test_run_result_round_trips_through_json():
    counters = {"guest_instructions": 1200, "direct_instructions": 1000,
                "emulated_instructions": 200, "exits": {"sbi": 3, "illegal_instruction": 200}}
    model = PRESETS["modern"]
    result = RunResult(engine="trap", workload="hello", counters=counters,
                       cycles=model.estimate(counters), total_cycles=model.total(counters),
                       wall_s=0.125, console="hello\n", exit_code=0, exit_reason="finisher")
    data = json.loads(json.dumps(result.to_dict()))
    assert data == result.to_dict()
    assert RunResult.from_dict(data) == result
    assert data["total_cycles"] == 1000 + 200 * 40 + 203 * 2000
    # to_dict copies: changing it leaves the result alone.
    result.to_dict()["counters"]["exits"]["sbi"] = 99
    assert result.counters["exits"]["sbi"] == 3
    unfinished = RunResult("hw", "loop", {}, {}, 0, 0.0, "", None, "budget")
    assert RunResult.from_dict(json.loads(json.dumps(unfinished.to_dict()))) == unfinished
