"""One RISC-V hart (hardware thread): RV32IMA + Zicsr + Zifencei, M/S/U and the H extension.

The hart is the host CPU of the simulated machine. Its state is plain attributes (`x`, `pc`,
`priv`, `virt` and one attribute per CSR), so a notebook can look at anything.

    priv  virt   mode         x86 analogue
    3     0      M            firmware / SMM
    1     0      HS (= S)     ring 0 of the host kernel / hypervisor ("VMX root")
    0     0      U            ring 3 of the host
    1     1      VS           the guest kernel ("VMX non-root", ring 0)
    0     1      VU           guest user mode

`run(budget)` executes instructions until the budget is used or something needs the caller and
returns an `Exit` saying why: this is the KVM_RUN loop's lower half. Nothing a guest does makes
`run` raise: faults become traps delivered to M/HS/VS as the privileged spec says, or an exit to
the Python caller when it registered interest in traps to that level (`intercept`).

Structure, one concept per file:
  execute.py  unprivileged instructions as closures      system.py  privileged instructions
  csr.py      CSRs, access rules, WARL                   mmu.py     address translation
  trap.py     causes                                     this file  state, memory, traps, loop
  blocks.py   the fast path: basic blocks compiled to Python (`hart.fast`, on by default)

`_run_fast` below is the reference interpreter, the one to read; `_run_blocks` runs the same
instructions a block at a time and must leave exactly the same state and counters.
"""

import os
import struct
import traceback
from typing import NamedTuple

from vmkit.isa import decode

from . import csr as C
from . import execute
from .blocks import compile_block
from .bus import BusError
from .csr import CsrFile
from .mmu import FETCH, LOAD, STORE, Mmu
from .pmp import pmp_allows, pmp_rules, pmp_write_addr, pmp_write_cfg
from .system import execute_system
from .trap import (ILLEGAL_INSTRUCTION, INSTRUCTION_ACCESS_FAULT, INTERRUPT_BIT,
                   LOAD_ACCESS_FAULT, LOAD_MISALIGNED, STORE_ACCESS_FAULT, STORE_MISALIGNED,
                   Trap, cause_name)

M, S, U = 3, 1, 0
PRIV_NAMES = {(3, False): "M", (1, False): "HS", (0, False): "U", (1, True): "VS",
              (0, True): "VU"}

_U32 = struct.Struct("<I").unpack_from

# The attributes holding CSR storage (every other CSR is a view of these, of PMP or of a
# device line); all reset to 0. context.py saves and loads exactly these.
CSR_STATE = tuple(
    "mstatus mstatush medeleg mideleg mie mtvec mcounteren mscratch mepc mcause "
    "mtval mtval2 mtinst mip_soft menvcfg menvcfgh mcountinhibit stvec scounteren "
    "senvcfg sscratch sepc scause stval satp hstatus hedeleg hideleg hvip "
    "hcounteren hgeie htval htinst hgatp henvcfg henvcfgh htimedelta htimedeltah "
    "vsstatus vstvec vsscratch vsepc vscause vstval vsatp".split())

# Interrupt priority (privileged spec 3.1.9 and 8.4.3): the first pending-and-enabled wins.
INTERRUPT_PRIORITY = (11, 3, 7, 9, 1, 5, 12, 10, 2, 6)
# A VS-level interrupt is reported to VS-mode under the supervisor code (VSEI 10 -> SEI 9).
VS_CODE = {2: 1, 6: 5, 10: 9}


class Exit(NamedTuple):
    """Why `Hart.run` returned.

    reason: "budget"     the instruction budget is used up
            "poweroff"   the guest stopped the machine (code = exit status)
            "reset"      the guest asked for a reset
            "wfi"        wfi with no interrupt that could ever wake it
            "breakpoint" pc reached a breakpoint (before executing it)
            "trap"       a trap to a level in `intercept` (cause, tval, target say which)
            "error"      vmkit itself failed (message says how); the guest cannot cause this
    """
    reason: str
    pc: int
    code: int = 0
    cause: int = 0
    tval: int = 0
    gpa: int = 0
    target: str = ""
    message: str = ""
    instructions: int = 0
    traceback: str = ""      # "error": the Python traceback of the failure, for debugging

    def describe(self) -> str:
        if self.reason == "trap":
            return (f"trap to {self.target}: {cause_name(self.cause)} at pc={self.pc:#010x} "
                    f"tval={self.tval:#x}")
        if self.reason == "poweroff":
            return f"powered off with exit code {self.code}"
        return self.message or self.reason


class _Stop(Exception):
    """Internal: the run loop must return `hart.exit` (set before raising)."""


class Hart:
    CHUNK = 1 << 16         # longest stretch between interrupt checks when nothing is due
    # The fast path compiles a block on its visit after `hot` visits: most code runs only a
    # few times, and interpreting it is cheaper than compiling it (tests set 0: compile all).
    hot = 8

    def __init__(self, bus, clint=None, plic=None, tlb=None, reset_pc=0x8000_0000):
        self.bus = bus
        self.clint = clint
        self.plic = plic
        self.reset_pc = reset_pc
        self.intercept = set()         # trap targets ("M", "HS", "VS") to hand to the caller
        self.breakpoints = set()
        self.trace = None              # callable(line) -> commit log, Spike format
        self.poll = None               # callable run between stretches of instructions
        self.quirks = frozenset()      # Popek-Goldberg lab switches: see system.QUIRKS
        self.mmu = None
        self.fast = True               # compile basic blocks (blocks.py); False: one at a time
        self.ram_views = None          # RAM seen as 8/16/32-bit items, made by blocks.py
        self.reset()
        self.mmu = Mmu(self, bus, tlb)
        self.translation_changed()
        self.csrs = CsrFile(self)

    # -- state ----------------------------------------------------------------------------
    def reset(self):
        self.x = [0] * 32
        self.pc = self.reset_pc
        self.priv, self.virt = M, False
        for name in CSR_STATE:
            setattr(self, name, 0)
        self.pmpcfg = [0] * 16
        self.pmpaddr = [0] * 16
        self.pmp_rules = ()
        self.instret = 0               # instructions retired since reset
        self.traps = 0                 # traps and interrupts taken since reset
        self.counter_offset = {"cycle": 0, "instret": 0}
        self.reservation = None
        self.trace_log = []
        self.decoded = {}
        self.exit = None
        self.block_fault = None
        self.fetch_hits = self.data_hits = 0
        self._fetch_paged = self._data_paged = False
        self.fetch_pages, self.load_pages, self.store_pages = {}, {}, {}
        self.code_pages = {}
        self.watched_pages = {}
        self._limit = [0]
        if self.mmu is not None:
            self.mmu.tlb.flush_all()
            self.mmu.pmp_changed()
        self.translation_changed()

    @property
    def mode(self) -> str:
        return PRIV_NAMES[(self.priv, self.virt)]

    def counter(self, name):
        return (self.instret + self.counter_offset[name]) & 0xFFFFFFFF_FFFFFFFF

    def set_counter(self, name, value, high):
        now = self.counter(name)
        new = (value << 32 | now & 0xFFFFFFFF) if high else (now & ~0xFFFFFFFF | value)
        # The write happens in this instruction; the counter then counts it too (as QEMU).
        self.counter_offset[name] = new - self.instret - 1

    def read_time(self):
        """The time CSR: mtime, plus htimedelta in VS and VU mode (H extension: a guest's
        clock can be offset from the host's, e.g. after a migration; spec 8.2.8)."""
        time = self.clint.mtime if self.clint else 0
        if self.virt:
            time = (time + (self.htimedeltah << 32 | self.htimedelta)) & 0xFFFF_FFFF_FFFF_FFFF
        return time

    # -- interrupt lines -------------------------------------------------------------------
    def read_mip(self):
        mip = self.mip_soft | (self.hvip & C.VS_INTERRUPTS)
        if self.clint:
            mip |= C.MTIP if self.clint.mtip else 0
            mip |= C.MSIP if self.clint.msip else 0
        if self.plic:
            mip |= C.MEIP if self.plic.pending_context(0) else 0
            mip |= C.SEIP if self.plic.pending_context(1) else 0
        return mip

    def read_vsie(self):
        return self._vs_view(self.mie)

    def write_vsie(self, value):
        mask = self.hideleg & C.VS_INTERRUPTS
        self.mie = (self.mie & ~mask) | (_vs_to_host(value) & mask)

    def read_vsip(self):
        return self._vs_view(self.read_mip())

    def write_vsip(self, value):
        mask = self.hideleg & C.VSSIP
        self.hvip = (self.hvip & ~mask) | (_vs_to_host(value) & mask)

    def _vs_view(self, bits):
        """VS bits of mip/mie shown at the supervisor positions (VSSIP -> SSIP, ...)."""
        bits &= self.hideleg & C.VS_INTERRUPTS
        return bits >> 1

    # -- PMP --------------------------------------------------------------------------------
    def read_pmpcfg(self, register):
        return sum(self.pmpcfg[4 * register + i] << (8 * i) for i in range(4))

    def write_pmpcfg(self, register, value):
        for i in range(4):
            pmp_write_cfg(self, 4 * register + i, (value >> (8 * i)) & 0xFF)
        self.mmu.pmp_changed()
        self.pmp_rules = pmp_rules(self.pmpcfg, self.pmpaddr)
        self.translation_changed()

    def write_pmpaddr(self, index, value):
        pmp_write_addr(self, index, value)
        self.mmu.pmp_changed()
        self.pmp_rules = pmp_rules(self.pmpcfg, self.pmpaddr)
        self.translation_changed()

    # -- translation caches -----------------------------------------------------------------
    def translation_changed(self):
        """Forget every cached page: privilege, satp, PMP or mstatus bits have changed.

        The page caches below sit in front of the TLB model and hold only pages the TLB
        holds, so each hit in them is a TLB hit: we count them, and add them to the TLB's
        counters here and in `sync_counters`. (Dicts are cleared, not replaced: the fetch
        loop keeps a reference.)
        """
        self.sync_counters()
        for cache in (self.fetch_pages, self.load_pages, self.store_pages):
            cache.clear()
        if self.mmu is not None:
            self._fetch_paged = self._paged(self.priv, self.virt)
            self._data_paged = self._paged(*self.data_context())
            self._tlb_seen = (self.mmu.tlb.evictions, self.mmu.tlb.flushes)

    def _paged(self, priv, virt):
        """Does an access in this mode go through the MMU (and so the TLB)?"""
        if priv == M:
            return False
        if virt:
            return bool((self.vsatp | self.hgatp) & C.SATP_MODE)
        return bool(self.satp & C.SATP_MODE)

    def sync_counters(self):
        """Fold the page caches' hits into the TLB model's hit counter."""
        if self.mmu is None:
            return
        hits = (self.fetch_hits if self._fetch_paged else 0) + (
            self.data_hits if self._data_paged else 0)
        self.mmu.tlb.hits += hits
        self.fetch_hits = self.data_hits = 0

    def data_context(self):
        """(privilege, virt) for loads and stores: mstatus.MPRV makes M-mode use MPP/MPV."""
        if self.priv == M and self.mstatus & C.MPRV:
            mpp = (self.mstatus & C.MPP) >> C.MPP_SHIFT
            return mpp, bool(self.mstatush & C.MSTATUSH_MPV) and mpp != M
        return self.priv, self.virt

    def _translate(self, vaddr, size, access, priv, virt, hlvx=False):
        """Physical address of an access, after the MMU and PMP; raises Trap."""
        paddr = self.mmu.translate(vaddr, access, priv, virt, hlvx=hlvx, size=size)
        tlb = self.mmu.tlb
        if (tlb.evictions, tlb.flushes) != self._tlb_seen:
            self.translation_changed()      # the TLB dropped pages the caches may hold
        return paddr

    def _cacheable(self, paddr, access, priv):
        """May this page's translation be reused without asking the MMU again?"""
        page = paddr & ~0xFFF
        return (self.bus.is_ram(page, 4096)
                and pmp_allows(self.pmp_rules, page, 4096, access, priv))

    # -- memory accesses (used by execute.py and system.py) -----------------------------
    def fetch_page(self, pc):
        """The decoded-instruction list of the page holding pc; raises Trap.

        Decoded instructions are cached per *physical* page (`code_pages`, 1024 slots of
        closures). A page with cached code is never in `store_pages`, so every store to it
        takes the slow path, which throws the page's code away: self-modifying code and
        `fence.i` need nothing more.
        """
        paddr = self._translate(pc, 4, FETCH, self.priv, self.virt)
        if not self.bus.is_ram(paddr, 4):
            raise Trap(INSTRUCTION_ACCESS_FAULT, pc)
        ppn = paddr >> 12
        code = self.code_pages.get(ppn)
        if code is None:
            base = (ppn << 12) - self.bus.ram_base
            # slots 0-1023: decoded closures; 1024: the page's offset in RAM; 1025: blocks
            code = self.code_pages[ppn] = [None] * 1024 + [base, {}]
            self._uncache_stores(ppn)
        if self._cacheable(paddr, FETCH, self.priv):
            self.fetch_pages[pc >> 12] = code
        return code

    def decode_at(self, code, pc):
        """Decode the instruction at pc (whose page's code list is `code`) and cache it."""
        word = _U32(self.bus.ram, code[1024] + (pc & 0xFFF))[0]
        step = self.decoded.get(word) or self.decode(word)
        code[(pc & 0xFFF) >> 2] = step
        return step

    def watch_page(self, ppn, callback):
        """Call `callback(paddr)` after every store to physical page `ppn`.

        Hardware would write-protect the page and take a fault; here the store simply goes the
        slow way. Used for HTIF's tohost word and by binary translation to notice guest code
        being overwritten."""
        self.watched_pages[ppn] = callback
        self._uncache_stores(ppn)

    def _uncache_stores(self, ppn):
        base = (ppn << 12) - self.bus.ram_base
        for vpn in [v for v, b in self.store_pages.items() if b == base]:
            del self.store_pages[vpn]

    def invalidate_code(self, paddr):
        """RAM at paddr changed: forget the code decoded from its page."""
        if self.code_pages.pop(paddr >> 12, None) is not None:
            self.fetch_pages.clear()
            self.recheck()             # the running loop may hold this page's code list

    def load(self, vaddr, size):
        if vaddr & (size - 1):
            return self._load_misaligned(vaddr, size)
        base = self.load_pages.get(vaddr >> 12)
        if base is not None:
            self.data_hits += 1
            at = base + (vaddr & 0xFFF)
            return int.from_bytes(self.bus.ram[at:at + size], "little")
        priv, virt = self.data_context()
        return self.load_physical(vaddr, size, priv, virt, cache=True)

    def load_physical(self, vaddr, size, priv, virt, cache=False, hlvx=False):
        paddr = self._translate(vaddr, size, LOAD, priv, virt, hlvx)
        if self.trace is not None:
            self.trace_log.append(f" mem 0x{vaddr:08x}")
        if self.bus.is_ram(paddr, size):
            if cache and self._cacheable(paddr, LOAD, priv):
                self.load_pages[vaddr >> 12] = (paddr & ~0xFFF) - self.bus.ram_base
            at = paddr - self.bus.ram_base
            return int.from_bytes(self.bus.ram[at:at + size], "little")
        try:
            value = self.bus.load(paddr, size)
        except BusError:
            raise Trap(LOAD_ACCESS_FAULT, vaddr) from None
        self.recheck()                 # a device read may change interrupt lines
        return value

    def store(self, vaddr, size, value):
        if vaddr & (size - 1):
            return self._store_misaligned(vaddr, size, value)
        base = self.store_pages.get(vaddr >> 12)
        if base is not None:
            self.data_hits += 1
            at = base + (vaddr & 0xFFF)
            self.bus.ram[at:at + size] = value.to_bytes(size, "little")
            return
        priv, virt = self.data_context()
        self.store_physical(vaddr, size, value, priv, virt, cache=True)

    def store_physical(self, vaddr, size, value, priv, virt, cache=False):
        paddr = self._translate(vaddr, size, STORE, priv, virt)
        if self.trace is not None:
            self.trace_log.append(f" mem 0x{vaddr:08x} 0x{value:0{2 * size}x}")
        if self.reservation is not None and paddr & ~3 == self.reservation:
            pass                       # a plain store keeps the reservation (as QEMU)
        if self.bus.is_ram(paddr, size):
            ppn = paddr >> 12
            if ppn in self.code_pages:
                self.invalidate_code(paddr)
            elif cache and ppn not in self.watched_pages and self._cacheable(paddr, STORE, priv):
                self.store_pages[vaddr >> 12] = (paddr & ~0xFFF) - self.bus.ram_base
            at = paddr - self.bus.ram_base
            self.bus.ram[at:at + size] = value.to_bytes(size, "little")
            watcher = self.watched_pages.get(ppn)
            if watcher is not None:
                watcher(paddr)
            return
        try:
            self.bus.store(paddr, size, value)
        except BusError:
            raise Trap(STORE_ACCESS_FAULT, vaddr) from None
        self.recheck()                 # a device write may raise an interrupt or power off

    def _load_misaligned(self, vaddr, size):
        # QEMU performs misaligned loads and stores in hardware, byte by byte.
        return sum(self.load((vaddr + i) & 0xFFFFFFFF, 1) << (8 * i) for i in range(size))

    def _store_misaligned(self, vaddr, size, value):
        # Translate every byte first, so a fault on the second page leaves memory untouched.
        priv, virt = self.data_context()
        for i in range(size):
            self._translate((vaddr + i) & 0xFFFFFFFF, 1, STORE, priv, virt)
        for i in range(size):
            self.store((vaddr + i) & 0xFFFFFFFF, 1, (value >> (8 * i)) & 0xFF)

    # -- A extension --------------------------------------------------------------------------
    def _atomic_address(self, vaddr, load_only):
        if vaddr & 3:
            raise Trap(LOAD_MISALIGNED if load_only else STORE_MISALIGNED, vaddr)
        priv, virt = self.data_context()
        paddr = self._translate(vaddr, 4, LOAD if load_only else STORE, priv, virt)
        if not self.bus.is_ram(paddr, 4):       # no LR/SC or AMO on devices (as Spike)
            raise Trap(LOAD_ACCESS_FAULT if load_only else STORE_ACCESS_FAULT, vaddr)
        return paddr, priv, virt

    def load_reserved(self, vaddr):
        paddr, priv, virt = self._atomic_address(vaddr, True)
        value = self.load_physical(vaddr, 4, priv, virt)
        self.reservation = (paddr, value)
        return value

    def store_conditional(self, vaddr, value):
        """0 on success, 1 on failure. Like QEMU: succeeds if the reserved word still holds
        the value LR read (a compare-and-swap), and any SC clears the reservation."""
        paddr, priv, virt = self._atomic_address(vaddr, False)
        reservation, self.reservation = self.reservation, None
        if reservation is None or reservation[0] != paddr:
            return 1
        if self.bus.load(paddr, 4) != reservation[1]:     # a compare, not a logged load
            return 1
        self.store_physical(vaddr, 4, value, priv, virt)
        return 0

    def amo(self, vaddr, compute):
        paddr, priv, virt = self._atomic_address(vaddr, False)
        old = self.load_physical(vaddr, 4, priv, virt)
        self.store_physical(vaddr, 4, compute(old), priv, virt)
        return old

    # -- decode -------------------------------------------------------------------------------
    def decode(self, word):
        """The closure executing `word` (cached by word: code is data, so no invalidation)."""
        row, ops = decode(word, aliases=False)
        step = execute.make(self, row, ops) if row is not None else None
        if step is None:
            def step(pc, word=word):
                raise Trap(ILLEGAL_INSTRUCTION, word)
        if len(self.decoded) > 1 << 16:
            self.decoded.clear()
        self.decoded[word] = step
        return step

    # -- traps and interrupts -------------------------------------------------------------------
    def recheck(self):
        """End the current run of instructions after this one: interrupt state may change."""
        self._limit[0] = 0

    def trap_target(self, code, interrupt):
        """Where a trap goes: "M", "HS" or "VS" (medeleg/mideleg, then hedeleg/hideleg)."""
        if self.priv == M:
            return "M"
        mdeleg = (self.mideleg | C.VS_INTERRUPTS | C.SGEIP) if interrupt else self.medeleg
        if not mdeleg >> code & 1:
            return "M"
        hdeleg = self.hideleg if interrupt else self.hedeleg
        if self.virt and hdeleg >> code & 1:
            return "VS"
        return "HS"

    def take_trap(self, trap, interrupt=False):
        """Deliver an exception (or interrupt) at self.pc; or stop for an intercepting caller."""
        code = trap.cause
        target = self.trap_target(code, interrupt)
        if target in self.intercept:
            self.exit = Exit("trap", self.pc, cause=code | (INTERRUPT_BIT if interrupt else 0),
                             tval=trap.tval, gpa=trap.gpa, target=target)
            raise _Stop
        cause = code | (INTERRUPT_BIT if interrupt else 0)
        priv, virt = self.priv, self.virt
        self.traps += 1
        if target == "M":
            self.mcause, self.mepc, self.mtval = cause, self.pc, trap.tval
            self.mtval2, self.mtinst = trap.gpa >> 2, trap.tinst
            status = self.mstatus
            status = status & ~C.MPIE | (C.MPIE if status & C.MIE else 0)
            self.mstatus = status & ~(C.MIE | C.MPP) | priv << C.MPP_SHIFT
            self.mstatush = (self.mstatush & ~(C.MSTATUSH_MPV | C.MSTATUSH_GVA)
                             | (C.MSTATUSH_MPV if virt else 0)
                             | (C.MSTATUSH_GVA if trap.gva else 0))
            self.priv, self.virt = M, False
            vector = self.mtvec
        elif target == "HS":
            self.scause, self.sepc, self.stval = cause, self.pc, trap.tval
            self.htval, self.htinst = trap.gpa >> 2, trap.tinst
            hstatus = self.hstatus & ~(C.HSTATUS_SPV | C.HSTATUS_GVA)
            if virt:
                hstatus = hstatus & ~C.HSTATUS_SPVP | C.HSTATUS_SPV | priv << 8
            self.hstatus = hstatus | (C.HSTATUS_GVA if trap.gva else 0)
            self.mstatus = _enter_supervisor(self.mstatus, priv)
            self.priv, self.virt = S, False
            vector = self.stvec
        else:
            if interrupt:
                cause = VS_CODE.get(code, code) | INTERRUPT_BIT
            self.vscause, self.vsepc, self.vstval = cause, self.pc, trap.tval
            self.vsstatus = _enter_supervisor(self.vsstatus, priv)
            self.priv = S
            vector = self.vstvec
        base = vector & ~3
        if interrupt and vector & 1:
            base += 4 * (cause & ~INTERRUPT_BIT)
        self.pc = base
        self.translation_changed()

    def pending_interrupt(self):
        """The code of the interrupt to take now, or None (privileged spec 3.1.9, 8.4.3)."""
        pending = self.read_mip() & self.mie
        if not pending:
            return None
        mideleg = self.mideleg | C.VS_INTERRUPTS | C.SGEIP
        enabled = 0
        if self.priv < M or self.mstatus & C.MIE:
            enabled |= pending & ~mideleg
        hs = pending & mideleg & ~self.hideleg
        if self.virt or self.priv < S or (self.priv == S and self.mstatus & C.SIE):
            enabled |= hs
        vs = pending & mideleg & self.hideleg
        if self.virt and (self.priv == U or self.vsstatus & C.SIE):
            enabled |= vs
        for code in INTERRUPT_PRIORITY:
            if enabled >> code & 1:
                return code
        return None

    def wait_for_interrupt(self):
        """wfi with nothing pending: let time pass until the timer wakes us, or give up.

        Time is counted in instructions (see devices/clint.py), so skipping ahead to the timer
        is exact and deterministic; with no timer armed nothing can ever wake the hart except
        the caller (input for the UART, an injected interrupt), so `run` returns "wfi".
        """
        due = None
        if self.clint is not None and self.mie & C.MTIP:
            due = self.clint.instructions_until_timer()
        if due is None:
            self.stop("wfi", message="wfi with no interrupt that can wake the hart")
        else:
            self.clint.advance(due)

    def wakeup_pending(self):
        """wfi resumes when any interrupt is pending and enabled in mie, whatever MIE/SIE say."""
        return bool(self.read_mip() & self.mie)

    # -- the run loop ----------------------------------------------------------------------------
    def run(self, max_instructions: int) -> Exit:
        """Execute up to `max_instructions` instructions; return why we stopped.

        Taking a trap also counts as one step of the budget: a guest stuck taking the same
        fault over and over (a bad trap vector) retires nothing, and must not hang the caller.
        """
        start, traps_before = self.instret, self.traps
        self.exit = None
        try:
            while True:
                done = self.instret - start
                if done + self.traps - traps_before >= max_instructions:
                    return Exit("budget", self.pc, instructions=done)
                if self.poll is not None:
                    self.poll()
                    if self.exit is not None:
                        raise _Stop
                code = self.pending_interrupt()
                if code is not None:
                    self.reservation = None
                    self.take_trap(Trap(code), interrupt=True)
                    continue
                chunk = min(max_instructions - done - (self.traps - traps_before), self.CHUNK)
                if self.clint is not None and not self.clint.mtip:
                    due = self.clint.instructions_until_timer()
                    if due is not None:
                        chunk = max(1, min(chunk, due))
                if self.breakpoints or self.trace is not None:
                    self._run_stepping(chunk, first=(done == 0 and self.traps == traps_before))
                elif self.fast:
                    self._run_blocks(chunk)
                else:
                    self._run_fast(chunk)
        except _Stop:
            exit = self.exit
            return exit._replace(instructions=self.instret - start)
        except RecursionError:
            return Exit("error", self.pc, message="vmkit: recursion limit in the run loop",
                        instructions=self.instret - start)
        except Exception as error:   # a vmkit bug must not take the notebook down with it
            if os.environ.get("VMKIT_DEBUG") == "1":
                raise                # ... unless someone is debugging vmkit itself
            return Exit("error", self.pc, message=f"vmkit internal error: {error!r}",
                        instructions=self.instret - start,
                        traceback="".join(traceback.format_exception(error)))

    def stop(self, reason, code=0, message=""):
        """Called by devices (finisher, HTIF) and system instructions to end `run`."""
        self.exit = Exit(reason, self.pc, code=code, message=message)
        self._limit[0] = 0

    def retire(self, count=1):
        """Count `count` instructions as retired (the VMM uses it for instructions it completes)."""
        self.instret += count
        if self.clint is not None:
            self.clint.advance(count)

    def _run_fast(self, count):
        """The interpreter's inner loop: fetch, look up the decoded closure, call it.

        Every fetch is one TLB lookup. Fetches from the page of the previous instruction (or
        from a page in `fetch_pages`) are hits served here; `slow` counts the fetches that
        went to the MMU, which counts those itself.
        """
        fetch_pages = self.fetch_pages
        limit = self._limit
        limit[0] = count
        pc = self.pc
        page, code, n, slow = -1, None, 0, 0
        step = None
        try:
            while n < limit[0]:
                if pc >> 12 != page:
                    code = fetch_pages.get(pc >> 12)
                    if code is None:
                        code = self.fetch_page(pc)
                        slow += 1
                    page = pc >> 12
                step = code[(pc & 0xFFF) >> 2]
                if step is None:
                    step = self.decode_at(code, pc)
                pc = step(pc)
                n += 1
        except execute.Serialize as signal:
            signal.__traceback__ = None    # the one shared instance must not collect frames
            self._end_fast(pc, n, n + 1 - slow)
            self._system(code)
            return
        except Trap as trap:
            # The trap came from the instruction itself if its page had been fetched.
            self._end_fast(pc, n, n + (page == pc >> 12) - slow)
            self.take_trap(trap)
            return
        self._end_fast(pc, n, n - slow)
        if self.exit is not None:
            raise _Stop

    def _run_blocks(self, count):
        """`_run_fast`, a block at a time (blocks.py): the same fetches, counts and traps.

        A block runs only if it fits in what is left of `count`; otherwise, and for the
        instructions blocks leave out, one closure is called exactly as `_run_fast` does.
        """
        fetch_pages = self.fetch_pages
        limit = self._limit
        limit[0] = count
        pc = self.pc
        hot = self.hot
        page, code, blocks, n, slow = -1, None, None, 0, 0
        self.block_fault = None
        try:
            while n < limit[0]:
                if pc >> 12 != page:
                    code = fetch_pages.get(pc >> 12)
                    if code is None:
                        code = self.fetch_page(pc)
                        slow += 1
                    page = pc >> 12
                    blocks = code[1025]
                block = blocks.get(pc, 0)
                if block.__class__ is int:           # not hot yet: count the visit
                    if block < hot:
                        blocks[pc] = block + 1
                    else:
                        block = blocks[pc] = compile_block(self, code, pc)
                if block.__class__ is tuple and n + block[1] <= limit[0]:
                    pc, done = block[0](limit[0] - n)
                    n += done
                    continue
                # Cold code, or too little budget left: closures, as `_run_fast`, up to the
                # next jump (whose target may start a block) or the end of the page.
                while True:
                    step = code[(pc & 0xFFF) >> 2] or self.decode_at(code, pc)
                    next_pc = step(pc)
                    n += 1
                    if next_pc != pc + 4 or not next_pc & 0xFFF or n >= limit[0]:
                        pc = next_pc
                        break
                    pc = next_pc
        except execute.Serialize as signal:
            signal.__traceback__ = None
            self._end_fast(pc, n, n + 1 - slow)
            self._system(code)
            return
        except Trap as trap:
            if self.block_fault is not None:     # precise: where in the block it happened
                done, pc = self.block_fault
                self.block_fault = None
                n += done
            self._end_fast(pc, n, n + (page == pc >> 12) - slow)
            self.take_trap(trap)
            return
        self._end_fast(pc, n, n - slow)
        if self.exit is not None:
            raise _Stop

    def _end_fast(self, pc, retired, fetch_hits):
        self.pc = pc
        self.fetch_hits += fetch_hits
        self.retire(retired)

    def _system(self, code):
        """Execute one SYSTEM instruction at self.pc with every counter up to date."""
        try:
            execute_system(self, _U32(self.bus.ram, code[1024] + (self.pc & 0xFFF))[0])
        except Trap as trap:
            self.take_trap(trap)
            return
        self.retire(1)
        if self.exit is not None:
            raise _Stop

    def _run_stepping(self, count, first):
        """One instruction at a time: breakpoints and the commit log (Spike's format).

        Ends the stretch where `_run_fast` does (after a SYSTEM instruction, a trap, or a
        device access: `recheck`), so that `run` looks for interrupts at the same instructions
        with or without --trace."""
        limit = self._limit
        limit[0] = count
        i = 0
        while i < limit[0]:
            if self.pc in self.breakpoints and not (first and i == 0):
                self.exit = Exit("breakpoint", self.pc)
                raise _Stop
            self.step()
            i += 1
            if self.exit is not None:
                raise _Stop

    def step(self):
        """Execute exactly one instruction (or take one trap). Used by single-step and trace."""
        pc, priv = self.pc, self.priv
        retired = self.instret
        self.trace_log = []
        if self.trace is not None:
            self.load_pages.clear()    # every access takes the slow path, which logs it
            self.store_pages.clear()
        try:
            code = self.fetch_pages.get(pc >> 12)
            if code is None:
                code = self.fetch_page(pc)
            else:
                self.fetch_hits += 1
        except Trap as trap:
            self.recheck()
            self.take_trap(trap)
            return
        word = _U32(self.bus.ram, code[1024] + (pc & 0xFFF))[0]
        step = code[(pc & 0xFFF) >> 2] or self.decode_at(code, pc)
        try:
            self.pc = step(pc)
            self.retire(1)
        except execute.Serialize as signal:
            signal.__traceback__ = None
            self.recheck()             # a CSR write may have made an interrupt takeable
            self._system(code)
        except Trap as trap:
            self.pc = pc
            self.recheck()
            self.take_trap(trap)
            return
        if self.trace is not None and self.instret != retired:
            self.trace(self._commit_line(priv, pc, word))

    def _commit_line(self, priv, pc, word):
        """One line of Spike's --log-commits, e.g.
        'core   0: 3 0x80000168 (0x00044503) x10 0x00000061 mem 0x80000680':
        privilege, pc, instruction, the register it wrote (x0 never shown), then CSR writes
        ('c773_mtvec 0x...') and memory accesses ('mem ADDR' for loads, 'mem ADDR VALUE'
        for stores), in Spike's order."""
        line = f"core   0: {priv} 0x{pc:08x} (0x{word:08x})"
        row, ops = decode(word, aliases=False)
        rd = ops.get("d", 0) if row is not None else 0
        if rd:
            line += f" x{rd:<2} 0x{self.x[rd]:08x}"
        return line + "".join(self.trace_log)

def _enter_supervisor(status, priv):
    """sstatus/vsstatus on a trap to (V)S: SPIE <- SIE, SIE <- 0, SPP <- previous privilege."""
    status = status & ~C.SPIE | (C.SPIE if status & C.SIE else 0)
    return status & ~(C.SIE | C.SPP) | (C.SPP if priv else 0)


def _vs_to_host(value):
    """Supervisor-position bits written through vsie/vsip, moved to the VS positions."""
    return (value << 1) & C.VS_INTERRUPTS


ACCESS_FAULT = {FETCH: INSTRUCTION_ACCESS_FAULT, LOAD: LOAD_ACCESS_FAULT,
                STORE: STORE_ACCESS_FAULT}
