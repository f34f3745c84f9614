"""The host (vmkit/vmm/host.py) and guest memory (vmkit/vmm/memory.py): frames, VMIDs/ASIDs,
page tables checked by the hart's own MMU, a G-stage used by a real VS-mode run, the dirty log."""

import pytest

from vmkit.asm import assemble
from vmkit.hw.mmu import FETCH, LOAD, STORE
from vmkit.hw.paging import PTE_A, PTE_D, PTE_R, PTE_U, PTE_W, PTE_X, SV32, SV32X4, SV39
from vmkit.hw.trap import (ECALL_FROM_U, ECALL_FROM_VS, STORE_GUEST_PAGE_FAULT, STORE_PAGE_FAULT,
                           Trap)
from vmkit.vmm.engines.base import PMP_R, PMP_RWX, guest_pmp
from vmkit.vmm.host import FRAME, Host, HostOutOfMemory
from vmkit.vmm.memory import MEGAPAGE, RWX, GuestMemory, Region

MIB = 1 << 20
AD = PTE_A | PTE_D
GUEST = PTE_R | PTE_W | PTE_X | PTE_U | AD         # a G-stage leaf: U required
RAM = 0x8000_0000


@pytest.fixture
def host():
    return Host(ram_size=8 * MIB)


def open_pmp(hart):
    """S/U accesses need a PMP entry once PMP exists: grant all of the 32-bit space."""
    guest_pmp(hart, [(0, 1 << 32, PMP_RWX)])


# -- the frame allocator ----------------------------------------------------------------------
def test_alloc_alignment_and_runs(host):
    frames = host.frames
    one = frames.alloc(owner="a")
    root = frames.alloc(4, align=4, owner="a")          # an Sv32x4 root
    big = frames.alloc(1024, align=1024, owner="b")     # 4 MiB, 4 MiB aligned
    assert root % (16 << 10) == 0 and big % MEGAPAGE == 0
    spans = sorted([(one, 1), (root, 4), (big, 1024)])
    for (a, n), (b, _) in zip(spans, spans[1:]):
        assert a + n * FRAME <= b                       # no overlap
    assert frames.usage() == {"a": 5, "b": 1024}
    assert frames.used_frames == 1029 and frames.free_frames == frames.total - 1029
    assert frames.owner_of(big + 5 * FRAME) == "b" and frames.owner_of(big - FRAME) is None


def test_alloc_zeroes_and_reuses(host):
    frames, bus = host.frames, host.bus
    pa = frames.alloc(2)
    bus.write_bytes(pa, b"\xAA" * 2 * FRAME)
    frames.free(pa)
    assert frames.alloc(2) == pa                        # lowest free run: reused
    assert bus.read_bytes(pa, 2 * FRAME) == bytes(2 * FRAME)


def test_alloc_forgets_code_decoded_from_the_frame(host):
    # A frame that held code the hart ran must not run that code for its next owner.
    hart, frames = host.hart, host.frames
    pa = frames.alloc()
    host.bus.write_bytes(pa, assemble("li a0, 7\nebreak\n").image()[0][1])
    hart.pc = pa
    hart.fetch_page(pa)
    assert pa >> 12 in hart.code_pages
    frames.free(pa)
    assert frames.alloc() == pa and pa >> 12 not in hart.code_pages


def test_exhaustion_is_a_clear_error(host):
    frames = host.frames
    with pytest.raises(HostOutOfMemory, match="out of memory"):
        frames.alloc(frames.total + 1)
    frames.alloc(1)                                     # 8 MiB RAM, one frame used:
    assert frames.alloc(1024, align=1024) == RAM + 4 * MIB   # one aligned 4 MiB run left
    with pytest.raises(HostOutOfMemory, match="aligned to 1024"):
        frames.alloc(1024, align=1024)
    frames.alloc(frames.free_frames)
    with pytest.raises(ValueError):                     # HostOutOfMemory is a ValueError
        frames.alloc()


@pytest.mark.parametrize("args", [(0,), (-1,), ("1",), (True,), (1.0,), (1, 3), (1, 0)])
def test_alloc_refuses_bad_arguments(host, args):
    with pytest.raises(ValueError):
        host.frames.alloc(*args)
    assert host.frames.used_frames == 0


def test_free_refuses_double_foreign_and_inner_frames(host):
    frames = host.frames
    pa = frames.alloc(4)
    for bad in (pa + FRAME, pa + 1, 0, -4096, RAM + 64 * MIB, None, "x"):
        with pytest.raises(ValueError, match="not the start"):
            frames.free(bad)
    frames.free(pa)
    with pytest.raises(ValueError, match="double free"):
        frames.free(pa)
    assert frames.used_frames == 0


def test_reserve_claims_a_fixed_place(host):
    frames = host.frames
    pa = frames.reserve(RAM + 16 * FRAME, 2, owner="tables")
    assert pa == RAM + 16 * FRAME and frames.usage() == {"tables": 2}
    with pytest.raises(HostOutOfMemory):
        frames.reserve(RAM + 17 * FRAME)
    for bad in (RAM + 1, RAM - FRAME, RAM + 8 * MIB):
        with pytest.raises(ValueError):
            frames.reserve(bad)
    assert frames.alloc(32, align=16) == RAM + 32 * FRAME     # skips the reserved run


@pytest.mark.parametrize("size", [0, -4096, 4097, 1 << 40, "32M"])
def test_host_refuses_bad_ram_size(size):
    with pytest.raises(ValueError, match="host RAM"):
        Host(ram_size=size)


# -- VMIDs and ASIDs --------------------------------------------------------------------------
def test_id_widths_are_probed_from_the_csrs(host):
    assert host.vmids.bits == 7 and host.asids.bits == 9     # RV32: VMIDLEN 7, ASIDLEN 9


@pytest.mark.parametrize("which", ["vmids", "asids"])
def test_id_allocator_exhaustion_and_reuse(host, which):
    ids = getattr(host, which)
    got = [ids.alloc() for _ in range((1 << ids.bits) - 1)]
    assert got == list(range(1, 1 << ids.bits))              # 0 is the host's
    with pytest.raises(ValueError, match="out of"):
        ids.alloc()
    ids.free(5)
    assert ids.alloc() == 5
    for bad in (0, 1 << ids.bits, -1, "5"):
        with pytest.raises(ValueError):
            ids.free(bad)
    ids.free(7)
    with pytest.raises(ValueError):
        ids.free(7)                                          # double free


def test_freeing_a_vmid_fences_its_tlb_entries(host):
    hart, tlb = host.hart, host.machine.tlb
    mem = GuestMemory(host, [Region("ram", RAM, 16 * FRAME)])
    root = mem.new_root(SV32X4)
    mem.map_region(root, "ram", GUEST)
    open_pmp(hart)
    keep, doomed = host.vmids.alloc(), host.vmids.alloc()
    for vmid in (keep, doomed):
        hart.hgatp = 1 << 31 | vmid << 22 | root >> 12
        hart.mmu.translate(RAM, LOAD, 1, True)
    assert tlb.lookup(RAM >> 12, 0, doomed, True) is not None
    host.vmids.free(doomed)
    assert tlb.lookup(RAM >> 12, 0, doomed, True) is None
    assert tlb.lookup(RAM >> 12, 0, keep, True) is not None


def test_freeing_an_asid_fences_its_tlb_entries(host):
    hart, tlb = host.hart, host.machine.tlb
    mem = GuestMemory(host, [Region("ram", RAM, 16 * FRAME)])
    root = mem.new_root(SV32)
    mem.map_region(root, "ram", RWX | AD)
    open_pmp(hart)
    asid = host.asids.alloc()
    hart.satp = 1 << 31 | asid << 22 | root >> 12
    hart.mmu.translate(RAM, LOAD, 1, False)
    assert tlb.lookup(RAM >> 12, asid, 0, False) is not None
    host.asids.free(asid)
    assert tlb.lookup(RAM >> 12, asid, 0, False) is None


# -- page tables, checked by the hart's own MMU -----------------------------------------------
def translate(host, mode, root, va, access=LOAD):
    """Physical address the hart's MMU gives for `va` through the table at `root`."""
    hart = host.hart
    if mode is SV32:
        hart.satp, virt = 1 << 31 | 1 << 22 | root >> 12, False
    else:
        hart.hgatp, virt = 1 << 31 | 1 << 22 | root >> 12, True
    hart.mmu.tlb.flush_all()
    return hart.mmu.translate(va, access, 1, virt)


@pytest.mark.parametrize("mode", [SV32, SV32X4], ids=["Sv32", "Sv32x4"])
def test_map_pages_as_the_mmu_sees_them(host, mode):
    open_pmp(host.hart)
    mem = GuestMemory(host, [Region("ram", RAM, 4 * MEGAPAGE // 4, contiguous=True,
                                    align=MEGAPAGE),
                             Region("low", 0x1000, 8 * FRAME)])
    root = mem.new_root(mode)
    assert root % (FRAME * (4 if mode is SV32X4 else 1)) == 0
    u = PTE_U if mode is SV32X4 else 0
    ram = mem.region("ram").frames[0]
    mem.map_pages(root, 0x4000_0000, MEGAPAGE, ram, PTE_R | PTE_X | u | AD, MEGAPAGE)
    low = mem.region("low").frames
    mem.map_pages(root, 0x1000, FRAME, low[3], PTE_R | u | AD)
    mem.map_pages(root, 0x2000, 2 * FRAME, low[4], PTE_R | PTE_W | u | AD)
    assert translate(host, mode, root, 0x4012_3456) == ram + 0x12_3456
    assert translate(host, mode, root, 0x1ABC) == low[3] + 0xABC
    assert translate(host, mode, root, 0x3FFC, STORE) == low[4] + FRAME + 0xFFC
    assert translate(host, mode, root, 0x4000_0000, FETCH) == ram
    for va, access in ((0x1000, STORE), (0x5000, LOAD), (0x4040_0000, LOAD),
                       (0x4000_0000, STORE)):
        with pytest.raises(Trap):                       # read-only, unmapped, no W
            translate(host, mode, root, va, access)
    mem.unmap_pages(root, 0x2000, 2 * FRAME)
    mem.unmap_pages(root, 0x4000_0000, MEGAPAGE)
    for va in (0x2000, 0x3000, 0x4000_0000):
        with pytest.raises(Trap):
            translate(host, mode, root, va)
    assert translate(host, mode, root, 0x1000) == low[3]


def test_map_region_uses_megapages_when_it_can():
    host = Host(ram_size=16 * MIB)
    mem = GuestMemory(host, [Region("ram", RAM, 2 * MEGAPAGE, contiguous=True, align=MEGAPAGE),
                             Region("rom", 0x1000, FRAME, flags=PTE_R | PTE_X)])
    root = mem.new_root(SV32X4)
    before = host.frames.used_frames
    mem.map_region(root, "ram", GUEST)
    assert host.frames.used_frames == before            # two root PTEs, no leaf table
    mem.map_region(root, "rom", GUEST)
    assert host.frames.used_frames == before + 1        # one leaf table
    open_pmp(host.hart)
    assert translate(host, SV32X4, root, RAM + MEGAPAGE + 8) == \
        mem.region("ram").frames[0] + MEGAPAGE + 8
    with pytest.raises(Trap):                           # the region's flags: no W
        translate(host, SV32X4, root, 0x1000, STORE)


def test_map_pages_refuses_bad_requests(host):
    mem = GuestMemory(host, [Region("ram", RAM, 16 * FRAME)])
    root, g_root = mem.new_root(SV32), mem.new_root(SV32X4)
    pa = mem.region("ram").frames[0]
    mem.map_pages(root, 0x40_0000, MEGAPAGE, RAM, RWX, MEGAPAGE)
    mem.map_pages(root, 0x1000, FRAME, pa, RWX)
    bad = [
        ((root, 0x1000, FRAME, pa, RWX), "already mapped"),           # remap
        ((root, 0x40_1000, FRAME, pa, RWX), "superpage"),             # inside a megapage
        ((root, 0, MEGAPAGE, RAM, RWX, MEGAPAGE), "already mapped"),  # over a table
        ((root, 0x1800, FRAME, pa, RWX), "multiples"),
        ((root, 0x5000, FRAME, pa + 8, RWX), "multiples"),
        ((root, 0x5000, 0, pa, RWX), "do not fit"),
        ((root, -FRAME, FRAME, pa, RWX), "do not fit"),
        ((root, 0xFFFF_F000, 2 * FRAME, pa, RWX), "do not fit Sv32"),
        ((g_root, 0x4_0000_0000, FRAME, pa, GUEST), "do not fit Sv32x4"),
        ((root, 0x5000, FRAME, 1 << 34, RWX), "34-bit"),
        ((root, 0x5000, FRAME, pa, PTE_W), "perm"),
        ((root, 0x5000, FRAME, pa, 0), "perm"),
        ((root, 0x5000, FRAME, pa, RWX | 1 << 8), "perm"),
        ((g_root, 0x5000, FRAME, pa, RWX), "need U"),
        ((root, 0x5000, FRAME, pa, RWX, 2 * FRAME), "no 0x2000-byte"),
        ((pa, 0x5000, FRAME, pa, RWX), "not a table"),                # not our root
        ((root, "0", FRAME, pa, RWX), "do not fit"),
        ((root, 0x5000, FRAME, None, RWX), "integers"),
    ]
    used = host.frames.used_frames
    for args, message in bad:
        with pytest.raises(ValueError, match=message):
            mem.map_pages(*args)
    assert host.frames.used_frames == used              # nothing half-built
    with pytest.raises(ValueError, match="not the start"):
        mem.unmap_pages(root, 0x2000, FRAME)
    with pytest.raises(ValueError, match="not the start"):   # half a megapage
        mem.unmap_pages(root, 0x40_0000, FRAME)
    with pytest.raises(ValueError, match="not a table"):
        mem.unmap_pages(pa, 0x1000, FRAME)
    with pytest.raises(ValueError, match="Sv32 or Sv32x4"):
        mem.new_root(SV39)


# -- gpa -> hpa, read and write ---------------------------------------------------------------
def test_read_write_and_hostile_addresses(host):
    hole = host.frames.alloc(2)
    host.frames.alloc()
    host.frames.free(hole)           # a 2-frame hole: the region's pages 0-1, then 2-3 elsewhere
    mem = GuestMemory(host, [Region("ram", RAM, 4 * FRAME),
                             Region("next", RAM + 4 * FRAME, FRAME)])
    frames = mem.region("ram").frames
    assert frames[1] == frames[0] + FRAME and frames[2] != frames[1] + FRAME
    assert mem.gpa_to_hpa(RAM + 5, 4) == frames[0] + 5
    assert mem.gpa_to_hpa(RAM + FRAME - 2, 4) == frames[0] + FRAME - 2   # contiguous pages
    assert mem.gpa_to_hpa(RAM + 2 * FRAME - 2, 4) is None               # not contiguous
    data = bytes(range(256)) * 36                        # 9216 bytes over three pages
    assert mem.write(RAM + 100, data)
    assert mem.read(RAM + 100, len(data)) == data
    assert host.bus.read_bytes(frames[1], 4) == data[FRAME - 100:FRAME - 96]
    assert host.bus.read_bytes(frames[2], 4) == data[2 * FRAME - 100:2 * FRAME - 96]
    for gpa, n in ((RAM - 1, 2), (RAM + 4 * FRAME - 2, 4), (-4, 4), (RAM, -1),
                   (RAM, 1 << 40), (1 << 40, 1), (RAM + 6 * FRAME, 1), ("0", 1)):
        assert mem.gpa_to_hpa(gpa, n) is None
        assert mem.read(gpa, n) is None
    for gpa in (RAM - 1, RAM + 4 * FRAME - 2, RAM + 5 * FRAME - 2, -4, 1 << 40):
        assert mem.write(gpa, b"abcd") is False            # outside, or crossing a region end
    assert mem.read(RAM + 100, len(data)) == data            # nothing was written


def test_two_guests_never_overlap_and_free_returns_everything(host):
    a = GuestMemory(host, [Region("ram", RAM, MEGAPAGE, contiguous=True, align=MEGAPAGE)],
                    owner="a")
    b = GuestMemory(host, [Region("ram", RAM, 64 * FRAME)], owner="b")
    for mem in (a, b):
        root = mem.new_root(SV32X4)
        mem.map_region(root, "ram", GUEST)
    frames_a = set(a.region("ram").frames)
    frames_b = set(b.region("ram").frames)
    assert not frames_a & frames_b and len(frames_b) == 64
    assert a.write(RAM, b"A" * 16) and b.write(RAM, b"B" * 16)
    assert a.read(RAM, 16) == b"A" * 16 and b.read(RAM, 16) == b"B" * 16
    assert set(host.frames.usage()) == {"a", "b"}
    a.free()
    assert set(host.frames.usage()) == {"b"} and a.read(RAM, 1) is None
    b.free()
    assert host.frames.used_frames == 0
    b.free()                                            # twice: nothing left to give back


def test_a_failed_guest_memory_keeps_no_frames(host):
    with pytest.raises(HostOutOfMemory):
        GuestMemory(host, [Region("a", RAM, MEGAPAGE), Region("b", 0, 16 * MIB)])
    with pytest.raises(ValueError, match="overlaps"):
        GuestMemory(host, [Region("a", RAM, 2 * FRAME), Region("b", RAM + FRAME, FRAME)])
    for bad in (Region("x", RAM + 1, FRAME), Region("x", RAM, 0), Region("x", -FRAME, FRAME),
                Region("x", 1 << 34, FRAME)):
        with pytest.raises(ValueError, match="4 KiB"):
            GuestMemory(host, [bad])
    assert host.frames.used_frames == 0


# -- the dirty log ----------------------------------------------------------------------------
def test_dirty_log_of_vmm_writes(host):
    mem = GuestMemory(host, [Region("ram", RAM, 8 * FRAME), Region("rom", 0, FRAME)])
    mem.write(RAM, b"x")
    assert mem.dirty_pages() == []                      # off: nothing logged
    mem.enable_dirty_log("ram")
    mem.write(RAM + FRAME - 1, b"ab")                   # two pages
    mem.write(RAM + 5 * FRAME, b"c")
    mem.write(0, b"rom")                                # not logged: its log is off
    assert mem.dirty_pages() == [RAM, RAM + FRAME, RAM + 5 * FRAME]
    mem.clear_dirty_log()
    assert mem.dirty_pages() == []
    mem.write(RAM + 2 * FRAME, b"d")
    assert mem.dirty_pages() == [RAM + 2 * FRAME]
    mem.disable_dirty_log("ram")
    mem.write(RAM + 3 * FRAME, b"e")
    assert mem.dirty_pages() == []
    with pytest.raises(ValueError, match="no region"):
        mem.enable_dirty_log("vram")


GUEST_PROGRAM = """
    li   t0, 0x80002000
    li   t3, 0x80003004        # the next page
    li   t1, 20
loop:                          # the loop gets hot: compiled blocks store too
    sw   t1, 0(t0)
    sw   t1, 0(t3)
    addi t1, t1, -1
    bnez t1, loop
    li   t2, 0x80006000
    amoadd.w zero, t1, (t2)    # an AMO stores as well
    ecall                      # to the VMM (HS)
    sw   t1, 8(t0)             # after the log is cleared: logged again
    li   t0, 0x90000000        # outside guest memory: a guest-page fault
    sw   t1, 0(t0)
"""


# hw: the guest in VS-mode behind a G-stage (hgatp, a VMID); trap: deprivileged to U-mode
# behind a shadow table (satp, an ASID). The same GuestMemory calls build either.
STYLES = {"hw": (SV32X4, GUEST, ECALL_FROM_VS, STORE_GUEST_PAGE_FAULT),
          "trap": (SV32, RWX | PTE_U | AD, ECALL_FROM_U, STORE_PAGE_FAULT)}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("fast", [True, False], ids=["blocks", "interpreter"])
def test_guest_run_through_our_tables_with_dirty_log(fast, style):
    mode, perm, ecall, store_fault = STYLES[style]
    host = Host(ram_size=8 * MIB, fast=fast)
    hart = host.hart
    # As an engine would: RAM and tables each in one aligned run, each one NAPOT PMP entry.
    mem = GuestMemory(host, [Region("ram", RAM, 8 * FRAME, contiguous=True, align=8 * FRAME)],
                      owner="vm", table_pool=8)
    other = GuestMemory(host, [Region("ram", RAM, 8 * FRAME)], owner="other")
    program = assemble(GUEST_PROGRAM, base=RAM)
    for address, data in program.image():
        assert mem.write(address, data)
    root = mem.new_root(mode)
    mem.map_region(root, "ram", perm)
    mem.enable_dirty_log("ram")
    other.enable_dirty_log("ram")
    seen = []
    host.watch_page(mem.region("ram").frames[2] >> 12, seen.append)   # a second watcher
    guest_pmp(hart, [(mem.gpa_to_hpa(RAM, 8 * FRAME), 8 * FRAME, PMP_RWX),
                     (mem.tables.base, mem.tables.total * FRAME, PMP_R)])
    if style == "hw":
        hart.hgatp = 1 << 31 | host.vmids.alloc() << 22 | root >> 12
        hart.priv, hart.virt = 1, True
    else:
        hart.satp = 1 << 31 | host.asids.alloc() << 22 | root >> 12
        hart.priv, hart.virt = 0, False
    hart.intercept = {"HS", "M"}
    hart.pc = RAM
    hart.translation_changed()

    exit = hart.run(10_000)
    assert (exit.reason, exit.cause) == ("trap", ecall), exit.describe()
    assert int.from_bytes(mem.read(RAM + 0x2000, 4), "little") == 1
    assert int.from_bytes(mem.read(RAM + 0x3004, 4), "little") == 1
    assert mem.dirty_pages() == [RAM + 0x2000, RAM + 0x3000, RAM + 0x6000]
    assert len(seen) == 20 and other.dirty_pages() == []
    frames = mem.region("ram").frames                     # dirty pages are no longer watched,
    assert frames[3] >> 12 not in hart.watched_pages      # so later stores run at full speed;
    assert frames[5] >> 12 in hart.watched_pages          # clean ones still are
    assert other.read(RAM + 0x2000, 4) == bytes(4)

    mem.clear_dirty_log()
    hart.pc = exit.pc + 4
    exit = hart.run(10_000)
    assert (exit.reason, exit.cause) == ("trap", store_fault)
    assert (exit.gpa if style == "hw" else exit.tval) == 0x9000_0000
    assert mem.dirty_pages() == [RAM + 0x2000]
    mem.disable_dirty_log("ram")
    assert host.watchers.keys() == {mem.region("ram").frames[2] >> 12} | {
        f >> 12 for f in other.region("ram").frames}          # only the others' watches stay


def test_watchers_chain_with_one_installed_on_the_hart(host):
    pa = host.frames.alloc()
    calls = []
    host.hart.watch_page(pa >> 12, lambda a: calls.append(("hart", a)))
    first = lambda a: calls.append(("first", a))            # noqa: E731
    host.watch_page(pa >> 12, first)
    host.watch_page(pa >> 12, lambda a: calls.append(("second", a)))
    host.hart.store_physical(pa + 8, 4, 1, 3, False)
    assert calls == [("hart", pa + 8), ("first", pa + 8), ("second", pa + 8)]
    host.unwatch_page(pa >> 12, first)
    calls.clear()
    host.hart.store_physical(pa, 4, 1, 3, False)
    assert [who for who, _ in calls] == ["hart", "second"]


def test_one_region_description_serves_two_guests(host):
    ram = Region("ram", RAM, 4 * FRAME)
    a, b = GuestMemory(host, [ram]), GuestMemory(host, [ram])
    assert not set(a.region("ram").frames) & set(b.region("ram").frames)
    assert ram.frames == []                              # the description is left as it was
    with pytest.raises(ValueError, match="its name"):
        GuestMemory(host, [ram, Region("ram", 0, FRAME)])


def test_a_pool_zeroes_its_own_frames_not_the_first_of_host_ram(host):
    # Regression: a pool's allocator zeroed the frame at its *index* from the start of host
    # RAM, wiping another VM's G-stage root there when a second VM was created.
    first = host.frames.alloc(8, align=8, owner="vm1")   # the first frames of host RAM
    host.bus.write_bytes(first, b"\x5A" * 8 * FRAME)
    mem = GuestMemory(host, [Region("ram", RAM, FRAME)], table_pool=4)
    root = mem.new_root(SV32)
    assert host.bus.read_bytes(first, 8 * FRAME) == b"\x5A" * 8 * FRAME
    assert host.bus.read_bytes(root, FRAME) == bytes(FRAME)


def test_page_tables_from_a_pool(host):
    mem = GuestMemory(host, [Region("ram", RAM, 2 * FRAME)], table_pool=4)
    root = mem.new_root(SV32X4)                          # the whole pool
    assert mem.tables.base <= root < mem.tables.base + 4 * FRAME
    assert mem.tables.base % (4 * FRAME) == 0
    with pytest.raises(HostOutOfMemory, match="page-table pool"):
        mem.map_region(root, "ram", GUEST)               # needs one leaf table more
    mem.free()
    assert host.frames.used_frames == 0
    for bad in (3, -4, "4"):
        with pytest.raises(ValueError, match="table_pool"):
            GuestMemory(host, [], table_pool=bad)
    assert host.frames.used_frames == 0
