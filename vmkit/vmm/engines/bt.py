"""`bt`: binary translation (bináris átírás), the way VMware ran x86 guests before VT-x.

The guest kernel's code is never run as it is. Before a block of it runs, the VMM translates
it into a *translation cache* (TC) in host memory, and the hart (in U-mode, like `trap`) runs
the translation:

* innocuous instructions are copied (add, lw, sw, branches' comparisons ...);
* `auipc` is rewritten to load the address it would have computed (the code moved);
* the lecture's slide, in RISC-V:
      cli   csrci sstatus,SIE  ->  sw   zero, VIF(zero)             no exit at all
      sti   csrsi sstatus,SIE  ->  sw   1, VIF(zero); if PENDING: call out to deliver it
  VIF and PENDING are words on the vCPU state page, mapped at the top of the address space so
  translated code reaches them x0-relative, with no free register needed;
* reads and writes of the plain supervisor registers (sscratch, sepc, scause, stval) become
  a load or store of their copies on the vCPU page (VMware translated most privileged
  instructions into such short sequences on its in-memory vCPU):
      csrr  t1, sscratch   ->  lw   t1, SSCRATCH(zero)       no exit
* every other sensitive instruction (csrr sstatus, sret, wfi, ecall, rdtime, mret, ...) ends the
  block with a *callout*: an `ecall` into the VMM, which emulates it on the vCPU record;
* a block ends at a branch or an indirect jump; its exits call out to the dispatcher, which
  finds (or makes) the translation of the target and patches the exit into a direct jump:
  *chaining*, so hot loops run from the TC without the VMM. Direct jumps and calls (`jal`,
  `call` = auipc + jalr, whose target is known when translating) do not end a block: it goes
  on at their target, within the same guest page (a superblock);
* returns (`ret`) use an *inline cache* instead of a callout per indirect jump (binary
  translators handle returns inside the translated code; Adams & Agesen's call/ret costs 51
  cycles under BT against 11 native, not a VMM entry per ret): each translated `ret` holds
  four return pcs in its own code (`li t6, pc; beq t6, ra, hit`, four times) and, when ra
  is one of them, goes on at its translation through a chained exit; a miss calls out, and
  the VMM emulates the ret and repoints one way of the cache (in turn) at the new ra. The
  cache is code, not data on the vCPU page, so the guest cannot steer a ret. Other
  indirect jumps (`jalr`) always call out;
* `fence.i` ends a block, so code the guest just wrote is translated anew.

Guest user code (virtual U-mode) runs directly, as under `trap`, with a shadow table of its
own that maps guest RAM only: the TC and the vCPU page exist for virtual S alone (the VMM
switches tables, and ASIDs, on every change of virtual privilege), so user code touching
them faults as on the other engines. The TC is entered only where the VMM left the hart: a
guest pc there (a kernel jump, an sret, a trap vector) is a fetch from no memory.

Guest time stays exact: each block starts by charging its guest-instruction count to a
budget word on the vCPU page and calls out before starting if the budget cannot pay for all
of it; the VMM then translates a block cut to the budget left (as QEMU's icount mode does), so
the timer interrupt lands on the same guest instruction as under every other engine. The
word only tells the VMM what it cannot see; it is not in charge: hart.run is bounded by 64
host instructions per guest instruction of the budget, and the count the VMM takes from the
word is clamped between the budget and what the host instructions run stand for.

A guest that pages (satp) runs on shadow page tables, as under `trap` (vmkit/vmm/shadow.py):
its user code on the shadows of the U view, its translated kernel on those of the S view,
each of which also maps the TC and the vCPU page (the VMM keeps the top 4 MiB slot of every
S shadow, as VMware's VMM sat in the top 4 MiB of every x86 guest address space). The TC is
keyed by the guest-*virtual* pc, because that is what the guest jumps to; the translator reads
the code through the guest's table (a walk that sets A, as the fetch would), and remembers the
guest-physical page each block came from. Stores to that page drop the block as before (write
protection follows the physical page, whichever virtual address the store used). When the
guest switches address spaces (satp) or fences (sfence.vma), the VMM checks that every
translated code page still maps to the page it was translated from, and drops the blocks
whose page moved: the same virtual pc may be other code in another address space.

Counters (rdtime, rdinstret) are guest state and are emulated. A store into a guest page that
has translations drops the blocks it touches (the hart reports stores to watched pages, as
write protection would); so does a VMM write into guest memory (guest_memory_written).

Cost: translated code is priced by the host instructions the hart retires in the TC
(`tc_host_instructions`, see costs.py), not as the guest instructions it stands for.

What holds: guest user code cannot reach the TC or the vCPU page; no guest code enters the
TC except where the VMM put it; every callout is made in virtual S; a ret goes where ra says;
a slice ends within its budget and counts between 0 and it; a kernel load or store the
translator sees go x0-relative to the vCPU page is an access fault, as on the hardware.

Known gap: for the guest kernel, the TC and the vCPU page still live in its address space (at
0xFFE00000 and 0xFFFFF000), as VMware's VMM lived in the top 4 MiB of the x86 guest's (which
segment limits kept the guest out of; RISC-V has no segments): a kernel load or store through
a register to those addresses sees them instead of an access fault. What it can do there is
bounded: VIF, SPILL and the CSR copies are its own state; a false PENDING costs a callout or
delays its own interrupt to the slice's end; a false BUDGET moves its own instruction count
within [0, budget] for that slice (it may burn its budget, never exceed it or run unbounded).
Closing it needs every translated load and store checked, or hardware help (the H
extension's two-stage translation). With guest paging, the same top 4 MiB of every address
space is the VMM's: a guest PTE mapping a page there is not shadowed (its access faults).
"""

import base64

from vmkit.hw import csr as C
from vmkit.hw.mmu import FETCH, SATP_MODE, STATUS_MXR, STATUS_SUM
from vmkit.hw.trap import (BREAKPOINT, ECALL_FROM_U, ILLEGAL_INSTRUCTION,
                           INSTRUCTION_ACCESS_FAULT, INSTRUCTION_MISALIGNED, Trap)
from vmkit.hw.paging import PTE_A, PTE_D, PTE_R, PTE_U, PTE_W, PTE_X, SV32
from vmkit.hw.state import from_plain, to_plain
from vmkit.isa import BY_NAME, decode, encode

from ..exits import ExitReason, VmExit
from ..io import LOADS, STORES
from ..layout import GUEST_RAM
from .base import PMP_R, PMP_RW, PMP_RWX, guest_pmp
from .engine import pages
from .trap import PTE_GUEST, S, U, TrapEngine

# The vCPU state page: virtual 0xFFFFF000; its fields at 0xFFFFF800.. = x0 - 2048..
VCPU_PAGE_VA = 0xFFFFF000
VIF, PENDING, BUDGET, SPILL = -2048, -2044, -2040, -2036     # x0-relative offsets
# Supervisor CSRs that are plain registers (sscratch, sepc, scause, stval): translated code
# reads and writes their copies here.
CSR_COPIES = {0x140: -2032, 0x141: -2028, 0x142: -2024, 0x143: -2020}
SEPC = 0x141
RA = 1
HOST_PER_GUEST = 64                        # host instructions a guest one translates to, at most
TC_VA, TC_SIZE = 0xFFE0_0000, 1 << 20
MAX_BLOCK = 16                             # guest instructions per block at most
RET_WAYS = 4                               # return pcs a translated ret caches
PMP_RX = PMP_R | 4                         # R X, NAPOT

SSTATUS, SIE_BIT = 0x100, 2
COUNTERS = {0xC00: "cycle", 0xC01: "time", 0xC02: "instret",
            0xC80: "cycle", 0xC81: "time", 0xC82: "instret"}
BRANCHES = ("beq", "bne", "blt", "bge", "bltu", "bgeu")
INLINE = ("copy", "auipc", "dead", "cli", "sti", "csr_read", "csr_write")  # do not end a block
T6 = 31


def op(name, **fields):
    """Encode one real instruction from the table: op("sw", t=31, s=0, q=-2036)."""
    row = next(r for r in BY_NAME[name] if not r.alias)
    values = {letter: 0 for letter in row.fields()}
    values.update(fields)
    return encode(row, values)


ECALL = op("ecall")


def li(rd, value):
    """lui + addi that put `value` in rd (the guest's auipc/jal link, computed at translation)."""
    value &= 0xFFFFFFFF
    low = ((value & 0xFFF) ^ 0x800) - 0x800
    return [op("lui", d=rd, u=((value - low) >> 12) & 0xFFFFF), op("addi", d=rd, s=rd, j=low)]


class Block:
    """One translation: guest-virtual pc `gpc`, the guest pcs it covers, from guest-physical
    page `page`; `length` words at `tc`. `code`: the guest-physical words it was made from."""

    def __init__(self, gpc, pcs, tc, length, page):
        self.gpc, self.pcs, self.tc, self.length, self.page = gpc, frozenset(pcs), tc, length, page
        self.code = frozenset(page << 12 | pc & 0xFFF for pc in pcs)
        self.incoming = []                 # (TC address, its word) of exits patched to jump here


class BtEngine(TrapEngine):
    name = "bt"
    title = "binary translation: kernel code rewritten before it runs (VMware)"
    paging_mode = "shadow"  # shadow page tables, the TC and vCPU page in every S shadow

    def __init__(self, vm, host=None):
        super().__init__(vm, host)
        self.blocks = {}                   # guest pc -> Block
        self.page_blocks = {}              # guest page -> guest pcs of its blocks

    def setup(self, entry):
        super().setup(entry)
        hart, memory, frames = self.hart, self.memory, self.host.frames
        # Guest user code gets a shadow table of its own: guest RAM only, its own ASID.
        user_root = memory.new_root(SV32)
        memory.map_region(user_root, "ram", PTE_GUEST)
        self.user_asid = self.host.asids.alloc()
        self.user_satp = 1 << 31 | self.user_asid << 22 | user_root >> 12
        # Virtual S maps the TC (user, read + execute) and the vCPU page (user, read + write)
        # at the top: host frames of their own (the TC aligned to its size: one PMP entry).
        self.tc_pa = frames.alloc(TC_SIZE >> 12, align=TC_SIZE >> 12, owner=self.vm.name)
        self.vcpu_pa = frames.alloc(1, owner=self.vm.name)
        memory.map_pages(self.shadow_root, TC_VA, TC_SIZE, self.tc_pa,
                         PTE_R | PTE_X | PTE_U | PTE_A)
        memory.map_pages(self.shadow_root, VCPU_PAGE_VA, 4096, self.vcpu_pa,
                         PTE_R | PTE_W | PTE_U | PTE_A | PTE_D)
        # Every shadow of the S view shares the leaf table that maps them (the top 4 MiB).
        top = TC_VA >> 22
        vmm_slot = {top: self.machine.bus.load(self.shadow_root + 4 * top, 4)}
        self.shadows.fixed = lambda key: {} if key[2] else vmm_slot        # key[2]: the U view
        guest_pmp(hart, [(self.vcpu_pa, 4096, PMP_RW),
                         (self.ram_base, self.vm.ram_size, PMP_RWX),
                         (self.tc_pa, TC_SIZE, PMP_RX), self.table_pmp()])
        self.by_tc = {}                    # TC address -> (guest pc, refund) of its origin
        self.callouts = {}                 # TC address of an ecall -> what it asks for
        self.restoring = set()             # those ecalls whose stub first reloads t6
        self.tc_next = TC_VA
        self.generation = 0                # TC flushes so far
        self.stats = {"tc_fills": 0, "tc_hits": 0, "tc_callouts": 0, "tc_invalidations": 0,
                      "translated_instructions": 0, "tc_host_instructions": 0,
                      "tc_guest_instructions": 0}
        self.after_callout = False         # the last exit from the TC was a callout
        self.resume_tc = None              # where the VMM left the hart in the TC, if it did
        self.slice = 0                     # guest instructions the last TC run counted
        self.ret_victims = {}              # a ret's cache ways -> the way its next miss fills
        self._write_vcpu(VIF, 0)
        hart.scounteren = 0                # counters are guest state: reads trap, we emulate
        hart.translation_changed()

    def _privilege_changed(self):
        # Only virtual S sees the TC and the vCPU page: guest user code touching them gets
        # the fault it gets under trap/hw (the VMM switches shadow tables, as VMware's did).
        if self.vcpu.satp & SATP_MODE:
            self._switch_shadow()              # trap's: S shadows map the TC too (setup)
        else:
            if self.shadow is not None:        # paging just went off: forget the shadows'
                self.shadow = None
                self.hart.mmu.tlb.flush_vma(asid=self.asid)
            self.hart.satp = self.shadow_satp if self.vcpu.priv == S else self.user_satp
        self.hart.scounteren = 0
        self.hart.translation_changed()

    def emulate_privileged(self, word):
        """trap's, and then: after a satp switch or a fence, translations whose code page no
        longer maps where it did go (the same virtual pc may be other code now)."""
        stats = self.shadows.stats
        before = stats["shadow_switches"], stats["shadow_fences"]
        exit = super().emulate_privileged(word)
        if (stats["shadow_switches"], stats["shadow_fences"]) != before:
            self._check_code_pages()
        return exit

    def _code_page(self, gpc):
        """The guest-physical page the guest's table gives kernel code at `gpc` now, or None;
        a walk that changes nothing."""
        vcpu = self.vcpu
        if not vcpu.satp & SATP_MODE:
            return gpc >> 12
        status = vcpu.mstatus
        gpa = self.shadows.lookup(vcpu.satp, gpc, FETCH, False, status & STATUS_SUM,
                                  status & STATUS_MXR)
        return None if gpa is None else gpa >> 12

    def _check_code_pages(self):
        pages = {}
        for key, block in list(self.blocks.items()):
            page = block.gpc >> 12
            if page not in pages:
                pages[page] = self._code_page(block.gpc)
            if pages[page] != block.page:
                self._drop(key, block)

    def instruction_at_pc(self):
        """The faulting guest instruction: read through the guest's table when it pages (the
        S shadows do not map kernel code for fetching: it runs from the TC)."""
        if not self.vcpu.satp & SATP_MODE or self.vcpu.priv != S:
            return super().instruction_at_pc()
        page = self._code_page(self.hart.pc)
        data = None if page is None else self.read_guest(page << 12 | self.hart.pc & 0xFFF, 4)
        return 0 if data is None else int.from_bytes(data, "little")

    # -- the vCPU page ------------------------------------------------------------------------
    def _read_vcpu(self, offset):
        return self.machine.bus.load(self.vcpu_pa + 0x800 + offset + 2048, 4)

    def _write_vcpu(self, offset, value):
        self.machine.bus.store(self.vcpu_pa + 0x800 + offset + 2048, 4, value & 0xFFFFFFFF)

    def _sync_in(self):
        """Translated code keeps the virtual SIE in VIF and the plain CSRs in their copies:
        fold them into the vCPU record (through the CSR file, for sepc's WARL bits)."""
        vcpu = self.vcpu
        vcpu.mstatus = vcpu.mstatus & ~C.SIE | (C.SIE if self._read_vcpu(VIF) else 0)
        for number, offset in CSR_COPIES.items():
            self.csrs.write(number, self._read_vcpu(offset))

    def _sync_out(self):
        vcpu = self.vcpu
        self._write_vcpu(VIF, int(bool(vcpu.mstatus & C.SIE)))
        self._write_vcpu(PENDING, int(bool(vcpu.read_mip() & vcpu.mie)))
        for number, offset in CSR_COPIES.items():
            self._write_vcpu(offset, self.csrs.read(number))

    # -- running ------------------------------------------------------------------------------
    def in_tc(self, address):
        return TC_VA <= address < TC_VA + TC_SIZE

    def translation_at(self, host_pc):
        """(guest pc of the block, guest pc of the instruction) translated at `host_pc` in the
        TC (either None where unknown: a stub, a dropped block); None outside the TC."""
        if not self.in_tc(host_pc):
            return None
        block = next((b for b in self.blocks.values()
                      if b.tc <= host_pc < b.tc + 4 * b.length), None)
        origin = self.by_tc.get(host_pc)
        if origin is not None:
            instruction = origin[0]
        else:
            instruction = block.gpc if block is not None and block.tc == host_pc else None
        return (None if block is None else block.gpc), instruction

    def enter(self, budget):
        # The vCPU record is authoritative here; VIF on the vCPU page only while the TC runs.
        after_callout, self.after_callout = self.after_callout, False
        resume, self.resume_tc = self.resume_tc, None
        if self._inject_interrupt():
            return VmExit(ExitReason.INTERRUPT)
        hart = self.hart
        if self.vcpu.priv != S:                # guest user code runs directly, as under trap
            return super(TrapEngine, self).enter(budget)
        if hart.pc != resume:
            # Kernel code always runs translated; a budget smaller than a block gets a block
            # cut to fit it (as QEMU's icount mode retranslates), so guest time stays exact.
            # Going on after a callout is the callout's work (its price includes the lookup).
            # A guest pc in the TC is no exception: the TC is not guest memory, so jumping
            # there is a fetch fault, as on the other engines.
            translated = self._dispatch(hart.pc, limit=min(budget, MAX_BLOCK),
                                        priced=not after_callout)
            if translated is None:
                return VmExit(ExitReason.EXCEPTION)
            hart.pc = translated
        self._sync_out()
        self._write_vcpu(BUDGET, budget)
        direct = self.vm.counters.direct_instructions
        exit = hart.run(HOST_PER_GUEST * budget + 256)
        self.stats["tc_host_instructions"] += exit.instructions
        self._account(budget, exit.instructions)
        self._sync_in()
        vm_exit = self._leave_tc(exit)
        self.after_callout = vm_exit.callout
        # Guest instructions that ran as translations (what the charged budget says, less the
        # refunds of blocks that stopped early): the cost model prices their host
        # instructions instead.
        self.stats["tc_guest_instructions"] += self.vm.counters.direct_instructions - direct
        return vm_exit

    def _leave_tc(self, exit):
        if exit.reason == "budget":            # the host-instruction bound: go on from here
            self.resume_tc = self.hart.pc
            return VmExit(ExitReason.BUDGET)
        if exit.reason == "trap":
            self.last_tval = exit.tval
            return self._tc_exit(exit)
        return VmExit(ExitReason.ERROR, message=f"host machine stopped: {exit.describe()}",
                      traceback=exit.traceback)

    def _account(self, budget, host_instructions):
        """Guest instructions the translated code ran: what it charged to BUDGET. The guest
        kernel can store to that word too, so the VMM believes it only within what it knows:
        no more than the budget, no fewer than the host instructions run could stand for
        (each guest instruction is fewer than HOST_PER_GUEST of them). So a slice always
        ends (hart.run is bounded) and counts at least its share of the host's work."""
        charged = budget - _signed(self._read_vcpu(BUDGET))
        self.slice = min(budget, max(charged, host_instructions // HOST_PER_GUEST))
        self.vm.counters.direct(self.slice)

    def _refund(self, count):
        """Guest instructions a block charged but did not run (it stopped at a callout/fault);
        never more than the slice counted."""
        count = min(count, self.slice)
        self.slice -= count
        self.vm.counters.direct_instructions -= count
        self.vm.counters.guest_instructions -= count

    def _tc_exit(self, exit):
        hart = self.hart
        if self.vcpu.priv != S:                # cannot happen: virtual U has no TC mapped
            return VmExit(ExitReason.ERROR, message="translated kernel code ran in virtual U-mode")
        if exit.cause == ECALL_FROM_U and hart.pc in self.callouts:
            self.stats["tc_callouts"] += 1
            return self._callout(self.callouts[hart.pc])
        origin = self.by_tc.get(hart.pc)
        if origin is None:
            return VmExit(ExitReason.ERROR,
                          message=f"fault outside any translation at {hart.pc:#x}")
        gpc, refund = origin
        self._refund(refund)
        hart.pc = gpc                          # the guest instruction that faulted
        return self.trap_exit(exit)

    def trap_exit(self, exit):
        # Guest time is guest state: counter reads trap (scounteren = 0) and are emulated.
        if exit.cause == ILLEGAL_INSTRUCTION and self._counter_read(exit.tval):
            return VmExit(ExitReason.ILLEGAL_INSTRUCTION)
        return super().trap_exit(exit)

    # -- callouts --------------------------------------------------------------------------------
    def _callout(self, action):
        """The translated code called the VMM (x86 BT: a call into the VMM's own code, no
        trap): counted in tc_callouts, priced by the cost model as a callout, not an exit."""
        exit = self.serve_callout(action)
        exit.callout = True
        return exit

    def serve_callout(self, action):
        kind, gpc = action[0], action[1]
        hart = self.hart
        if kind == "goto":
            generation = self.generation
            target = self._dispatch(gpc, priced=False)
            if target is not None:
                if generation == self.generation:      # the stub still exists: chain it
                    self._chain(hart.pc, gpc, target)
                hart.pc = self.resume_tc = target
            return VmExit(ExitReason.CALLOUT)
        if kind == "budget":                   # the block does not fit in the budget left
            hart.pc = gpc
            return VmExit(ExitReason.BUDGET)
        if kind == "pending":                  # sti found an interrupt waiting
            self._refund(action[2])            # the rest of the block did not run
            hart.pc = gpc
            return VmExit(ExitReason.CALLOUT)
        # A sensitive guest instruction: the block charged it; the VMM runs it instead.
        self._refund(1)
        hart.pc = gpc
        word = action[2]
        if kind == "jalr":
            return self._jalr(word)
        if kind == "vcpu_page":                # no RAM there: the access goes to no device
            _, ops = decode(word, aliases=False)
            self.last_tval = ops.get("o", ops.get("q")) & 0xFFFFFFFF
            return VmExit(ExitReason.MMIO, gpa=self.last_tval, word=word)
        if kind == "ret":
            return self._ret_missed(word, action[3])
        if self._counter_read(word):
            return VmExit(ExitReason.ILLEGAL_INSTRUCTION)
        row, _ = decode(word, aliases=False)
        name = row.name if row else ""
        if name == "ecall":
            return VmExit(ExitReason.SBI)
        if name == "ebreak":
            self.reflect(BREAKPOINT, 0)
            return VmExit(ExitReason.EXCEPTION)
        return self.emulate_privileged(word)

    def _jalr(self, word):
        hart = self.hart
        _, ops = decode(word, aliases=False)
        target = (hart.x[ops["s"]] + ops["o"]) & 0xFFFFFFFE
        if target & 3:
            self.reflect(INSTRUCTION_MISALIGNED, target)
            return VmExit(ExitReason.EXCEPTION)
        if ops["d"]:
            hart.x[ops["d"]] = (hart.pc + 4) & 0xFFFFFFFF
        hart.retire(1)
        self.vm.counters.emulated(1)
        hart.pc = target
        return VmExit(ExitReason.CALLOUT)

    def _ret_missed(self, word, ways):
        """A translated `ret` found neither of its inline cache's return pcs: emulate it,
        then make one way (in turn) of the cache expect this ra: its `li t6` (at `cache`)
        and its hit exit (the ecall at `hit`), which goes on where ra returns to,
        unchained from the old target."""
        ra = self.hart.x[RA]
        exit = self._jalr(word)
        if exit.kind == ExitReason.CALLOUT:
            way = self.ret_victims.get(ways, 0)
            self.ret_victims[ways] = (way + 1) % RET_WAYS
            cache, hit = ways[way]
            self.callouts[hit] = ("goto", self.hart.pc)
            self._install(cache, li(T6, ra))
            self._install(hit - 4, [RELOAD_T6])
        return exit

    def _counter_read(self, word):
        """Emulate rdcycle/rdtime/rdinstret (and the h halves): True if `word` was one."""
        row, ops = decode(word, aliases=False)
        if row is None or row.name != "csrrs" or ops["E"] not in COUNTERS or ops["s"] != 0:
            return False
        vcpu, counters = self.vcpu, self.vm.counters
        bit = 1 << (ops["E"] & 31)
        if vcpu.priv == U and not vcpu.scounteren & bit:
            self.reflect(ILLEGAL_INSTRUCTION, word)
            return True
        value = self.vm.guest_time if COUNTERS[ops["E"]] == "time" else \
            counters.guest_instructions
        if ops["E"] >= 0xC80:
            value >>= 32
        if ops["d"]:
            self.hart.x[ops["d"]] = value & 0xFFFFFFFF
        self.complete_instruction()
        return True

    # -- translation -------------------------------------------------------------------------------
    def _dispatch(self, gpc, limit=MAX_BLOCK, priced=True):
        """The TC address running guest pc `gpc` (translated now if need be), or None after
        reflecting a fetch fault into the guest. `limit` < MAX_BLOCK asks for a block of at
        most that many instructions (kept apart from the full-length blocks). `priced`: a
        hit counts as a TC lookup of its own (False: the lookup is part of a callout, whose
        price includes it)."""
        key = gpc if limit == MAX_BLOCK else (gpc, limit)
        block = self.blocks.get(key)
        if block is not None:
            if priced:
                self.stats["tc_hits"] += 1
            return block.tc
        if gpc & 3:
            self.reflect(INSTRUCTION_MISALIGNED, gpc)
            return None
        try:
            gpa = self._fetch_address(gpc)
        except Trap as fault:                  # a true fault: the guest's table says no
            self.reflect(fault.cause, fault.tval)
            return None
        if self.read_guest(gpa, 4) is None:
            self.reflect(INSTRUCTION_ACCESS_FAULT, gpc)
            return None
        return self._translate(gpc, gpa, limit)

    def _fetch_address(self, gpc):
        """Where the guest's kernel code at `gpc` is (guest-physical): through the guest's
        table when it pages, setting A as the hardware's fetch would; raises Trap."""
        vcpu = self.vcpu
        if not vcpu.satp & SATP_MODE:
            return gpc
        status = vcpu.mstatus
        return self.shadows.fill(self.shadow, vcpu.satp, gpc, FETCH, False,
                                 status & STATUS_SUM, status & STATUS_MXR, why="translation")

    def _translate(self, gpc, gpa, limit=MAX_BLOCK):
        guest = self._scan(gpc, gpa, limit)
        count = len(guest)
        targets = _direct_calls(guest)
        exits = []                             # [(callout, restore t6 first)]

        def exit_to(action, restore=False):
            """A new exit stub (that calls out for `action`); its index names it."""
            exits.append((action, restore))
            return len(exits) - 1

        # Prologue: charge `count` guest instructions to BUDGET, or call out before starting.
        code = [op("sw", t=T6, s=0, q=SPILL), op("lw", d=T6, s=0, o=BUDGET),
                op("addi", d=T6, s=T6, j=-count),
                ("b", "blt", T6, 0, exit_to(("budget", gpc), True)),
                op("sw", t=T6, s=0, q=BUDGET), op("lw", d=T6, s=0, o=SPILL)]
        origins = [None] * len(code)
        for index, (pc, word, kind) in enumerate(guest):
            emitted = self._rewrite(pc, word, kind, exit_to, count - index - 1,
                                    targets.get(pc), followed=index + 1 < count)
            code += emitted
            origins += [(pc, count - index)] * len(emitted)
        code, origins = _drop_reloads(code, origins)
        if guest[-1][2] in INLINE:             # ended by length or page: go on at the next pc
            code.append(("j", exit_to(("goto", guest[-1][0] + 4))))
            origins.append(None)
        # Exit stubs after the body; each ends in the ecall that calls out.
        stubs, stub_of, callouts = [], [], []
        for number, (action, restore) in enumerate(exits):
            stub_of.append(len(code) + len(stubs))
            if restore:
                stubs.append(op("lw", d=T6, s=0, o=SPILL))
            callouts.append((len(code) + len(stubs), number, action, restore))
            stubs.append(ECALL)
        tc = self.tc_next
        if tc + 4 * (len(code) + len(stubs)) > TC_VA + TC_SIZE:
            self._flush_tc()
            return self._translate(gpc, gpa, limit)
        words = [_resolve(item, index, stub_of) for index, item in enumerate(code)] + stubs
        self._install(tc, words)
        for index, number, action, restore in callouts:
            if action[0] == "ret":             # where its cache's ways and hit exits are
                last = code.index(("b", "bne", T6, RA, number)) - 2
                ways = tuple((tc + 4 * (last - 3 * (RET_WAYS - 1 - way)),
                              tc + 4 * (stub_of[hit] + 1)) for way, hit in enumerate(action[3]))
                action = action[:3] + (ways,)
            self.callouts[tc + 4 * index] = action
            if restore:
                self.restoring.add(tc + 4 * index)
        for index, origin in enumerate(origins):
            if origin is not None:
                self.by_tc[tc + 4 * index] = origin
        key = gpc if limit == MAX_BLOCK else (gpc, limit)
        self.blocks[key] = Block(gpc, [pc for pc, _, _ in guest], tc, len(words), gpa >> 12)
        self.tc_next = tc + 4 * len(words)
        self.stats["tc_fills"] += 1
        self.stats["translated_instructions"] += count
        self._watch(key, gpa)
        return tc

    def _scan(self, gpc, gpa, limit):
        """The guest instructions of the block at gpc, [(pc, word, kind)]: straight-line code
        up to a branch, an indirect jump or a sensitive instruction (included), the end of
        gpc's page or `limit` instructions. Direct jumps and calls (jal, auipc + jalr) do not
        end it: it goes on at their target (a superblock), unless that is already in it."""
        guest, pc = [], gpc
        while len(guest) < limit and pc >> 12 == gpc >> 12:
            data = self.read_guest(gpa & ~0xFFF | pc & 0xFFF, 4)      # (its page is gpa's)
            if data is None:
                break
            word = int.from_bytes(data, "little")
            guest.append((pc, word, _classify(word)))
            if guest[-1][2] in INLINE:
                pc += 4
                continue
            pc = _jump_target(guest)
            if pc is None or any(pc == seen for seen, _, _ in guest):
                break
        return guest

    def _rewrite(self, pc, word, kind, exit_to, after, target=None, followed=False):
        """The host instructions for one guest instruction. Items that are not words jump
        to an exit stub: ("j", stub), ("b", branch, rs1, rs2, stub). `after` = guest
        instructions of the block after this one (a callout here must refund them);
        `target`: where a direct call goes; `followed`: a direct jump whose target the block
        goes on with (no jump needed)."""
        if kind == "copy":
            return [word]
        row, ops = decode(word, aliases=False)
        if kind == "auipc":
            return li(ops["d"], pc + (ops["u"] << 12)) if ops["d"] else [op("addi")]
        if kind == "dead":                 # auipc whose value the call after it replaces
            return []
        if kind == "cli":
            return [op("sw", t=0, s=0, q=VIF)]
        if kind == "sti":
            pending = exit_to(("pending", pc + 4, after), True)
            return [op("sw", t=T6, s=0, q=SPILL), op("addi", d=T6, s=0, j=1),
                    op("sw", t=T6, s=0, q=VIF), op("lw", d=T6, s=0, o=PENDING),
                    ("b", "bne", T6, 0, pending), op("lw", d=T6, s=0, o=SPILL)]
        if kind == "csr_read":             # csrr rd, sepc  ->  lw rd, SEPC(zero)
            if not ops["d"]:
                return []
            load = [op("lw", d=ops["d"], s=0, o=CSR_COPIES[ops["E"]])]
            # sepc[1:0] read as zero (IALIGN=32); the copy keeps what the guest wrote.
            return load + ([op("andi", d=ops["d"], s=ops["d"], j=-4)] if ops["E"] == SEPC else [])
        if kind == "csr_write":            # csrw sepc, rs  ->  sw rs, SEPC(zero)
            return [op("sw", t=ops["s"], s=0, q=CSR_COPIES[ops["E"]])]
        if kind == "fence.i":
            return [word, ("j", exit_to(("goto", pc + 4)))]
        if kind == "branch":
            taken = exit_to(("goto", (pc + ops["p"]) & 0xFFFFFFFF))
            return [("b", row.name, ops["s"], ops["t"], taken),
                    ("j", exit_to(("goto", pc + 4)))]
        if kind == "jal" or target is not None:
            target = (pc + ops["a"]) & 0xFFFFFFFF if kind == "jal" else target
            link = li(ops["d"], pc + 4) if ops["d"] else []
            return link if followed else link + [("j", exit_to(("goto", target)))]
        if kind == "ret":
            # An inline cache of RET_WAYS return pcs, in code the guest cannot write: ra ==
            # a cached pc goes on at its translation (chained), else the VMM emulates the
            # ret and patches a way. Each starts as "ra == this ret's pc", true to itself.
            hits = tuple(exit_to(("goto", pc), True) for _ in range(RET_WAYS))
            miss = exit_to(("ret", pc, word, hits), True)
            code = [SAVE_T6]
            for hit in hits[:-1]:
                code += li(T6, pc) + [("b", "beq", T6, RA, hit)]
            return code + li(T6, pc) + [("b", "bne", T6, RA, miss), ("j", hits[-1])]
        return [("j", exit_to((kind, pc, word)))]       # "jalr" or "emulate"

    def _install(self, tc, words):
        data = b"".join(w.to_bytes(4, "little") for w in words)
        address = self.tc_pa + (tc - TC_VA)
        self.machine.bus.write_bytes(address, data)
        self.hart.invalidate_code(address)

    def _chain(self, stub, gpc, target):
        """Patch the exit at `stub` into a direct jump to the translation of `gpc`. A stub
        entered with t6 in SPILL (a return cache's) jumps past the target's first word,
        which saves t6 to SPILL, instead of reloading t6 first."""
        at, word = stub, ECALL
        if stub in self.restoring:
            at, word, target = stub - 4, RELOAD_T6, target + 4
        distance = target - at
        if -(1 << 20) <= distance < (1 << 20):
            self._install(at, [op("jal", d=0, a=distance)])
            self.blocks[gpc].incoming.append((at, word))

    # -- keeping translations coherent with guest code ------------------------------------------
    def _watch(self, key, gpa):
        """Blocks are within one guest page: remember it, and have its stores reported."""
        page = gpa >> 12
        self.page_blocks.setdefault(page, set()).add(key)
        host = self.host_address(page << 12)
        self.host.watch_page(host >> 12, self._guest_code_written)

    def _guest_code_written(self, paddr):
        """A store hit a guest page with translations: drop the blocks it overwrote."""
        self._drop_blocks(paddr - self.ram_base + GUEST_RAM, 4)

    def guest_memory_written(self, gpa, length):
        """The VMM wrote guest RAM: its translations go too, not only the hart's code."""
        super().guest_memory_written(gpa, length)
        self._drop_blocks(gpa, length)

    def _drop_blocks(self, gpa, length):
        """Drop the blocks translated from any guest word in [gpa, gpa + length)."""
        for page in pages(gpa, length):
            # Every guest store to a code page comes here: one word, a set lookup.
            words = range(max(gpa & ~3, page), min(gpa + length, page + 4096), 4)
            for key in list(self.page_blocks.get(page >> 12, ())):
                block = self.blocks.get(key)
                if block is not None and not block.code.isdisjoint(words):
                    self._drop(key, block)

    def _drop(self, key, block):
        del self.blocks[key]
        self.page_blocks[block.page].discard(key)
        for at, word in block.incoming:        # unchain: back to calling out
            self._install(at, [word])
        self.stats["tc_invalidations"] += 1

    def _flush_tc(self):
        self.generation += 1
        self.blocks.clear()
        self.page_blocks.clear()
        self.by_tc.clear()
        self.callouts.clear()
        self.restoring.clear()
        self.ret_victims.clear()
        self.tc_next = TC_VA
        self.stats["tc_invalidations"] += 1

    # -- snapshots: the vCPU page, the translation cache and its tables ----------------------------
    # Saved, not dropped and rebuilt: the guest's pc may be inside the TC, and a warm return
    # cache or a chained exit decides whether an instruction is counted as run direct or
    # emulated; a restored VM must count the same. The tables are every attribute of the
    # engine but the objects it works with (NOT_STATE), so a table added later is saved too.
    # (and where this VM sits on its host: another VM restored from the snapshot sits elsewhere)
    NOT_STATE = frozenset({"vm", "machine", "hart", "cpu", "vcpu", "csrs", "last_tval",
                           "host", "memory", "ram_base", "world_switches", "shadow_root",
                           "asid", "shadow_satp", "user_asid", "user_satp", "tc_pa",
                           "vcpu_pa", "shadows", "shadow"})

    def _tables(self):
        return {name: value for name, value in vars(self).items()
                if name not in self.NOT_STATE and not callable(value)}

    def save_state(self):
        bus = self.machine.bus
        return super().save_state() | {"bt": {
            "vcpu_page": _b64(bus.read_bytes(self.vcpu_pa, 4096)),
            "tc": _b64(bus.read_bytes(self.tc_pa, self.tc_next - TC_VA)),
            "tables": {name: to_plain(value) for name, value in self._tables().items()}}}

    def load_state(self, state):
        page, tc, tables = self._parse_state(state.get("bt") if isinstance(state, dict)
                                             else None)
        super().load_state(state)
        for name, value in tables.items():
            setattr(self, name, value)
        bus = self.machine.bus
        bus.write_bytes(self.vcpu_pa, page)
        tc += bytes(TC_SIZE - len(tc))
        for offset in range(0, TC_SIZE, 4096):            # rewrite only what differs, so the
            chunk = tc[offset:offset + 4096]              # hart's compiled TC code stays
            if bus.read_bytes(self.tc_pa + offset, 4096) != chunk:
                bus.write_bytes(self.tc_pa + offset, chunk)
                self.hart.invalidate_code(self.tc_pa + offset)
        for number in self.page_blocks:
            self.host.watch_page(self.host_address(number << 12) >> 12, self._guest_code_written)

    def _parse_state(self, saved):
        """bt's saved state as (vCPU page, TC bytes, tables); ValueError when it is not one:
        the same tables as this engine's, of the same types, with TC addresses in the TC."""
        try:
            page = base64.b64decode(saved["vcpu_page"], validate=True)
            tc = base64.b64decode(saved["tc"], validate=True)
            tables = {name: from_plain(value, (Block,))
                      for name, value in saved["tables"].items()}
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"engine bt: the translation cache state is malformed ({error})") \
                from None
        ours = self._tables()
        if set(tables) != set(ours) or not all(
                type(tables[n]) is type(ours[n]) or None in (tables[n], ours[n]) for n in ours):
            raise ValueError("engine bt: the saved tables differ from this engine's")
        try:
            consistent = (len(page) == 4096 and len(tc) == tables["tc_next"] - TC_VA
                          and set(tables["stats"]) == set(self.stats)
                          and all(type(b) is Block for b in tables["blocks"].values())
                          and all(_in_tc(a) for a in _tc_addresses(tables)))
        except (TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"engine bt: the translation cache state is malformed ({error})") \
                from None
        if not consistent:
            raise ValueError("engine bt: the translation cache state is inconsistent")
        if not all(isinstance(n, int) and self.host_address(n << 12, 4096) is not None
                   for n in tables["page_blocks"]):
            raise ValueError("engine bt: translated code on a page outside guest RAM")
        return page, tc, tables

    def statistics(self):
        """Translation-cache counters for the cost model (fills, hits, callouts, ...), and
        shadow paging's (trap's)."""
        return super().statistics() | self.stats

    def describe_block(self, gpc):
        """The lecture's slide for one block: each guest instruction beside what it became.

        Returns [(guest pc, guest text, [(TC address, host text), ...]), ...] plus the exit
        stubs under the pseudo guest pc None. The block is translated if it is not yet."""
        from vmkit.disasm import disassemble_word
        block = self.blocks.get(gpc)
        if block is None:
            if self._dispatch(gpc) is None:
                return []
            block = self.blocks[gpc]
        rows, current = [], None
        for index in range(block.length):
            address = block.tc + 4 * index
            word = self.machine.bus.load(self.tc_pa + (address - TC_VA), 4)
            origin = self.by_tc.get(address)
            guest_pc = origin[0] if origin else None
            if current is None or current[0] != guest_pc:
                if guest_pc is None:
                    text = "(block entry: charge the budget)" if not rows else "(exits)"
                else:
                    at = block.page << 12 | guest_pc & 0xFFF
                    guest_word = int.from_bytes(self.read_guest(at, 4), "little")
                    text = disassemble_word(guest_word, guest_pc)
                current = (guest_pc, text, [])
                rows.append(current)
            note = self.callouts.get(address)
            if note is not None:
                note = _callout_label(note) if word == ECALL else "exit chained to the next block"
            host = disassemble_word(word, address) + (f"   # {note}" if note else "")
            current[2].append((address, host))
        return rows


# The VMM routines a callout runs, named as on the lecture's slide (x86 beside RISC-V).
HANDLERS = {"satp": "HANDLE_CR3: switch shadow page tables (x86: mov cr3)",
            "sfence.vma": "HANDLE_INVLPG: drop shadow entries (x86: invlpg)"}


def _callout_label(action):
    """What a callout stub asks the VMM for, in words: `callout: HANDLE_CR3: ...` for a satp
    write, `callout: emulate sret` for another sensitive instruction, `callout: goto` ..."""
    kind = action[0]
    if kind != "emulate":
        return f"callout: {kind}"
    row, ops = decode(action[2], aliases=False)
    name = row.name if row is not None else "an illegal instruction"
    if name.startswith("csrr") and ops["E"] == 0x180:
        name = "satp"
    return f"callout: {HANDLERS.get(name, 'emulate ' + name)}"


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _tc_addresses(tables):
    """Every TC address in bt's tables: where the VMM will write or send the hart."""
    yield tables["tc_next"]
    yield from tables["by_tc"]
    yield from tables["callouts"]
    yield from tables["restoring"]
    for block in tables["blocks"].values():
        yield block.tc
        yield from (at for at, _ in block.incoming)
    if tables.get("resume_tc") is not None:
        yield tables["resume_tc"]


def _in_tc(address):
    return isinstance(address, int) and TC_VA <= address <= TC_VA + TC_SIZE


def _classify(word):
    """How the translator treats one guest instruction."""
    row, ops = decode(word, aliases=False)
    if row is None:
        return "emulate"
    name = row.name
    if name == "csrrci" and ops["E"] == SSTATUS and ops["Z"] == SIE_BIT and ops["d"] == 0:
        return "cli"
    if name == "csrrsi" and ops["E"] == SSTATUS and ops["Z"] == SIE_BIT and ops["d"] == 0:
        return "sti"
    if ops.get("E") in CSR_COPIES:
        if name in ("csrrs", "csrrc") and ops["s"] == 0 or name in ("csrrsi", "csrrci") \
                and ops["Z"] == 0:
            return "csr_read"
        if name == "csrrw" and ops["d"] == 0:
            return "csr_write"
    if name == "jalr" and ops["d"] == 0 and ops["s"] == RA and ops["o"] == 0:
        return "ret"
    if name in BRANCHES:
        return "branch"
    if (name in LOADS and ops["s"] == 0 and ops["o"] < 0
            or name in STORES and ops["s"] == 0 and ops["q"] < 0):
        return "vcpu_page"                # x0 - 2048..: the guest's own access, not ours
    if name == "fence.i":                 # code may have changed: translate what follows anew
        return "fence.i"
    if name in ("jal", "jalr", "auipc"):
        return name
    if row.match & 0x7F == 0x73:          # SYSTEM: every sensitive instruction lives here
        return "emulate"
    return "copy"


def _paired_target(first, second):
    """The target of `auipc r; jalr rd, off(r)` (`call`, `tail`), known when translating,
    or None if `first` and `second` are not such a pair (or the target is misaligned)."""
    (pc, word, kind), (_, next_word, next_kind) = first, second
    if kind != "auipc" or next_kind not in ("jalr", "ret"):
        return None
    _, upper = decode(word, aliases=False)
    _, jump = decode(next_word, aliases=False)
    target = (pc + (upper["u"] << 12) + jump["o"]) & 0xFFFFFFFE
    if upper["d"] and jump["s"] == upper["d"] and not target & 3:
        return target
    return None


def _jump_target(guest):
    """Where the direct jump ending `guest` goes (jal, auipc + jalr), or None."""
    pc, word, kind = guest[-1]
    if kind == "jal":
        _, ops = decode(word, aliases=False)
        return (pc + ops["a"]) & 0xFFFFFFFF
    return _paired_target(guest[-2], guest[-1]) if len(guest) > 1 else None


def _direct_calls(guest):
    """{pc: target} of the jalr of each auipc + jalr pair: it becomes a direct jump, like
    jal. When the jalr overwrites r, the auipc's value is never seen: it becomes "dead"."""
    targets = {}
    for index in range(len(guest) - 1):
        target = _paired_target(guest[index], guest[index + 1])
        if target is not None:
            pc, word, _ = guest[index]
            targets[guest[index + 1][0]] = target
            _, upper = decode(word, aliases=False)
            _, jump = decode(guest[index + 1][1], aliases=False)
            if jump["d"] == upper["d"]:
                guest[index] = (pc, word, "dead")
    return targets


SAVE_T6, RELOAD_T6 = op("sw", t=T6, s=0, q=SPILL), op("lw", d=T6, s=0, o=SPILL)


def _drop_reloads(code, origins):
    """Peephole: `lw t6, SPILL` right before `sw t6, SPILL` reloads the guest's t6 only to
    save it again; drop both (the guest's t6 stays in SPILL, t6 stays scratch)."""
    out_code, out_origins = [], []
    for item, origin in zip(code, origins):
        if item == SAVE_T6 and out_code and out_code[-1] == RELOAD_T6:
            out_code.pop()
            out_origins.pop()
            continue
        out_code.append(item)
        out_origins.append(origin)
    return out_code, out_origins


def _resolve(item, index, stub_of):
    """One host word from a code item: a word as it is, or a jump to a stub."""
    if isinstance(item, int):
        return item
    stub = stub_of[item[-1]]
    if item[0] == "j":
        return op("jal", d=0, a=4 * (stub - index))
    return op(item[1], s=item[2], t=item[3], p=4 * (stub - index))


def _signed(value):
    return value - (1 << 32) if value & 0x80000000 else value
