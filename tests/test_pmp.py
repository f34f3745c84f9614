"""PMP: address matching, priority, M-mode rules, the lock bit and the CSR write rules.

Expected values follow the privileged spec 20211203, section 3.7 (cited per test), and QEMU 7.2
(target/riscv/pmp.c) where the spec leaves a choice; the QEMU test at the end runs the real thing.
"""

import os
import re
import subprocess

from conftest import need_tool
from corpus import HEX_ROUTINE
from vmkit.hw.pmp import (L, NA4, NAPOT, OFF, R, TOR, W, X, entry_range, pmp_check,
                          pmp_write_addr, pmp_write_cfg)

FETCH, LOAD, STORE = 0, 1, 2
U, S, M = 0, 1, 3


class Hart:
    def __init__(self):
        self.pmpcfg = [0] * 16
        self.pmpaddr = [0] * 16


def cfg(a, perms=0, lock=False):
    return perms | a << 3 | (L if lock else 0)


def napot(base, size):
    """pmpaddr for a NAPOT region (spec table 3.10: size 2**(k+3) <-> k trailing ones)."""
    return (base >> 2) | ((size >> 3) - 1)


def test_napot_decodes_base_and_size():
    hart = Hart()
    hart.pmpaddr[0] = napot(0x8000_0000, 0x1_0000)
    hart.pmpcfg[0] = cfg(NAPOT, R)
    # 0x20001FFF has 13 trailing ones -> 2**16 bytes at 0x8000_0000.
    assert hart.pmpaddr[0] == 0x2000_1FFF
    assert entry_range(0, hart.pmpcfg, hart.pmpaddr) == (0x8000_0000, 0x8001_0000)
    assert pmp_check(hart, 0x8000_FFFC, 4, LOAD, S)
    assert not pmp_check(hart, 0x8001_0000, 4, LOAD, S)       # just past: no match, S denied
    assert not pmp_check(hart, 0x7FFF_FFFC, 4, LOAD, S)


def test_napot_all_ones_covers_the_whole_34_bit_space():
    # pmpaddr = 0xFFFFFFFF: 32 trailing ones -> 2**35 bytes from 0 (the firmware "allow all").
    hart = Hart()
    hart.pmpaddr[0] = 0xFFFF_FFFF
    hart.pmpcfg[0] = cfg(NAPOT, R | W | X)
    assert entry_range(0, hart.pmpcfg, hart.pmpaddr) == (0, 1 << 35)
    assert pmp_check(hart, 0, 4, STORE, U) and pmp_check(hart, 0xFFFF_FFFC, 4, FETCH, U)


def test_na4_is_exactly_four_bytes():
    hart = Hart()
    hart.pmpaddr[0] = 0x8000_0010 >> 2
    hart.pmpcfg[0] = cfg(NA4, R)
    assert pmp_check(hart, 0x8000_0010, 4, LOAD, S)
    assert pmp_check(hart, 0x8000_0013, 1, LOAD, S)
    assert not pmp_check(hart, 0x8000_0014, 1, LOAD, S)
    assert not pmp_check(hart, 0x8000_0010, 4, STORE, S)       # R only


def test_tor_uses_the_previous_address_and_entry_0_starts_at_zero():
    # Spec 3.7.1: TOR matches pmpaddr[i-1] <= a < pmpaddr[i]; for entry 0 the bottom is 0.
    hart = Hart()
    hart.pmpaddr[0] = 0x8000_1000 >> 2
    hart.pmpcfg[0] = cfg(TOR, R)
    hart.pmpaddr[1] = 0x8000_2000 >> 2
    hart.pmpcfg[1] = cfg(TOR, R | W)
    assert pmp_check(hart, 0, 4, LOAD, U)
    assert not pmp_check(hart, 0x8000_0FFC, 4, STORE, U)       # entry 0: read only
    assert pmp_check(hart, 0x8000_1000, 4, STORE, U)           # entry 1: read-write
    assert pmp_check(hart, 0x8000_1FFC, 4, STORE, U)
    assert not pmp_check(hart, 0x8000_2000, 4, LOAD, U)        # above both: no match


def test_tor_with_top_below_bottom_matches_nothing():
    hart = Hart()
    hart.pmpaddr[0] = 0x9000_0000 >> 2
    hart.pmpaddr[1] = 0x8000_0000 >> 2
    hart.pmpcfg[1] = cfg(TOR, R | W | X)
    assert not pmp_check(hart, 0x8800_0000, 4, LOAD, S)


def test_lowest_numbered_entry_wins():
    # Spec 3.7.1: "PMP entries are statically prioritized. The lowest-numbered PMP entry that
    # matches any byte of an access determines whether that access succeeds or fails."
    hart = Hart()
    hart.pmpaddr[0] = napot(0x8000_0000, 0x1000)
    hart.pmpcfg[0] = cfg(NAPOT, 0)                            # no permissions
    hart.pmpaddr[1] = 0xFFFF_FFFF
    hart.pmpcfg[1] = cfg(NAPOT, R | W | X)
    assert not pmp_check(hart, 0x8000_0800, 4, LOAD, S)
    assert pmp_check(hart, 0x8000_1000, 4, LOAD, S)


def test_partial_match_fails_even_when_both_entries_allow():
    # Spec 3.7.1: an access matching some but not all bytes of the deciding entry fails.
    hart = Hart()
    hart.pmpaddr[0] = 0x8000_0004 >> 2
    hart.pmpcfg[0] = cfg(NA4, R | W | X)
    hart.pmpaddr[1] = 0xFFFF_FFFF
    hart.pmpcfg[1] = cfg(NAPOT, R | W | X)
    assert not pmp_check(hart, 0x8000_0002, 4, LOAD, S)        # bytes 2..5 straddle entry 0
    assert pmp_check(hart, 0x8000_0004, 4, LOAD, S)


def test_region_strictly_inside_a_range_is_a_partial_match():
    # The hart asks about whole 4 KiB pages: a 4-byte entry in the middle of the page decides
    # for some bytes only, so the page as a whole must not pass (spec 3.7.1, as above).
    hart = Hart()
    hart.pmpaddr[0] = 0x8000_0800 >> 2
    hart.pmpcfg[0] = cfg(NA4, 0)
    hart.pmpaddr[1] = 0xFFFF_FFFF
    hart.pmpcfg[1] = cfg(NAPOT, R | W | X)
    assert not pmp_check(hart, 0x8000_0000, 4096, LOAD, S)
    assert pmp_check(hart, 0x8000_1000, 4096, LOAD, S)


def test_no_match_rules_for_m_and_for_s_u():
    # Spec 3.7.1: no match -> M succeeds, S/U fail if at least one entry is implemented
    # (QEMU implements 16, so also with every entry OFF: QEMU faults S-mode page-table reads
    # until firmware programs PMP, as QEMU requires).
    hart = Hart()
    assert pmp_check(hart, 0x8000_0000, 4, STORE, M)
    assert not pmp_check(hart, 0x8000_0000, 4, LOAD, S)
    assert not pmp_check(hart, 0x8000_0000, 4, FETCH, U)


def test_m_mode_ignores_unlocked_entries_and_obeys_locked_ones():
    # Spec 3.7.1: with L=0 an M-mode access that matches succeeds; L=1 applies R/W/X to M too.
    hart = Hart()
    hart.pmpaddr[0] = napot(0x8000_0000, 0x1000)
    hart.pmpcfg[0] = cfg(NAPOT, R)
    assert pmp_check(hart, 0x8000_0000, 4, STORE, M)
    hart.pmpcfg[0] = cfg(NAPOT, R, lock=True)
    assert not pmp_check(hart, 0x8000_0000, 4, STORE, M)
    assert not pmp_check(hart, 0x8000_0000, 4, FETCH, M)
    assert pmp_check(hart, 0x8000_0000, 4, LOAD, M)


def test_off_entries_match_nothing():
    hart = Hart()
    hart.pmpaddr[0] = 0xFFFF_FFFF
    hart.pmpcfg[0] = cfg(OFF, R | W | X)
    assert entry_range(0, hart.pmpcfg, hart.pmpaddr) is None
    assert not pmp_check(hart, 0x8000_0000, 4, LOAD, S)


def test_locked_entry_ignores_writes():
    # Spec 3.7.2: "writes to pmpcfg and pmpaddr of a locked entry are ignored".
    hart = Hart()
    assert pmp_write_addr(hart, 0, 0x1234)
    assert pmp_write_cfg(hart, 0, cfg(NA4, R, lock=True))
    assert not pmp_write_cfg(hart, 0, cfg(NAPOT, R | W | X))
    assert not pmp_write_addr(hart, 0, 0x5678)
    assert hart.pmpcfg[0] == cfg(NA4, R, lock=True) and hart.pmpaddr[0] == 0x1234


def test_locked_tor_entry_also_locks_the_address_below():
    # Spec 3.7.2: "if pmpcfg[i].L=1 and A=TOR, writes to pmpaddr[i-1] are ignored".
    hart = Hart()
    pmp_write_cfg(hart, 1, cfg(TOR, R, lock=True))
    assert not pmp_write_addr(hart, 0, 0x100)
    assert hart.pmpaddr[0] == 0
    pmp_write_cfg(hart, 3, cfg(NAPOT, R, lock=True))          # locked, but not TOR
    assert pmp_write_addr(hart, 2, 0x100)


def test_writes_keep_32_bits_and_8_bit_cfg():
    hart = Hart()
    pmp_write_addr(hart, 5, 0x1_2345_6789)
    pmp_write_cfg(hart, 5, 0x1FF)
    assert hart.pmpaddr[5] == 0x2345_6789 and hart.pmpcfg[5] == 0xFF


# -- QEMU: what the real pmpcfg/pmpaddr registers read back -----------------------------------

PROGRAM = r"""
    .option norvc
    .globl _start
_start:
    li t0, 0x0000037f        # entry 0: 0x7f (reserved bits 5,6 set, NAPOT, RWX); entry 1: 0x03
    csrw pmpcfg0, t0
    csrr a0, pmpcfg0
    call hex
    li t0, 0xffffffff
    csrw pmpaddr0, t0
    csrr a0, pmpaddr0
    call hex
    li t0, 0x12345677
    csrw pmpaddr1, t0
    csrr a0, pmpaddr1
    call hex
    li t0, 0x00008800       # entry 1 := locked (0x80) TOR (0x08) no permissions
    csrw pmpcfg0, t0
    li t0, 0x00000000
    csrw pmpaddr0, t0       # ignored: entry 1 is a locked TOR entry
    csrw pmpaddr1, t0       # ignored: entry 1 is locked
    li t0, 0x00001f1f
    csrw pmpcfg0, t0        # entry 0 changes, entry 1 stays locked
    csrr a0, pmpcfg0
    call hex
    csrr a0, pmpaddr0
    call hex
    csrr a0, pmpaddr1
    call hex
    li t0, 0x100000
    li t1, 0x5555
    sw t1, 0(t0)            # sifive_test: pass
1:  j 1b
""" + HEX_ROUTINE


def test_qemu_pmp_csr_write_rules(tmp_path):
    """QEMU 7.2 stores cfg bytes as written (reserved bits too), pmpaddr whole (G=0), and honours
    L for the entry and for the TOR address below it - as pmp_write_cfg/pmp_write_addr do."""
    gas = need_tool("riscv64-unknown-elf-as")
    ld = need_tool("riscv64-unknown-elf-ld")
    qemu = need_tool("qemu-system-riscv32")
    (tmp_path / "p.s").write_text(PROGRAM)
    subprocess.run([gas, "-march=rv32ima_zicsr", "-mabi=ilp32", "-o", tmp_path / "p.o",
                    tmp_path / "p.s"], check=True)
    subprocess.run([ld, "-m", "elf32lriscv", "-Ttext=0x80000000", "-o", tmp_path / "p.elf",
                    tmp_path / "p.o"], check=True)
    out = subprocess.run([qemu, "-M", "virt", "-bios", "none", "-nographic", "-kernel",
                          tmp_path / "p.elf"], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "TERM": "dumb"}).stdout
    qemu_values = [int(v, 16) for v in re.findall(r"^([0-9a-f]{8})\r?$", out, re.M)]

    hart = Hart()
    mine = []

    def write_cfg(value):
        for i in range(4):
            pmp_write_cfg(hart, i, value >> (8 * i))

    def read_cfg():
        return sum(hart.pmpcfg[i] << (8 * i) for i in range(4))

    write_cfg(0x0000037F)
    mine.append(read_cfg())
    pmp_write_addr(hart, 0, 0xFFFF_FFFF)
    mine.append(hart.pmpaddr[0])
    pmp_write_addr(hart, 1, 0x1234_5677)
    mine.append(hart.pmpaddr[1])
    write_cfg(0x00008800)
    pmp_write_addr(hart, 0, 0)
    pmp_write_addr(hart, 1, 0)
    write_cfg(0x00001F1F)
    mine += [read_cfg(), hart.pmpaddr[0], hart.pmpaddr[1]]
    assert qemu_values == mine, out
