"""Paravirtual direct paging (x86: Xen's PV MMU, SOSP 2003 section 3.3.2; HYPERVISOR_mmu_update,
MMUEXT_PIN_L1_TABLE / PIN_L2_TABLE, MMUEXT_NEW_BASEPTR). The other answer to "who owns the page
tables" besides shadow paging (shadow.py): the hart walks the guest's own tables, so there is
no second copy to keep in sync, and in exchange the guest may change them only through the
VMM, which checks every entry first.

The rules (what this module enforces; pv.py wires the hypercalls to it):

* A frame becomes a page table when the guest pins it (PIN_TABLE: level 1 a root, 0 a leaf
  table). A pinned table is read-only to the guest: no leaf in any pinned table may map it
  writable, and pinning is refused while one does (`writable` counts those mappings per frame;
  Xen keeps the same count as a page's type reference). While the guest's paging is still off
  the VMM's own table maps its RAM; the VMM write-protects pinned frames there too.
* The guest changes a pinned table only with MMU_UPDATE, a batch of (PTE address, value)
  pairs, all checked before any is written (all or nothing; Xen stops at the first bad one).
  A leaf may map only a page of the guest's own RAM, a pointer (in a root) only a pinned leaf
  table; no superpages, no W without R, no U/A/D on a pointer. Devices cannot be mapped: the
  paravirtual kernel uses the SBI console instead of its UART.
* The hart sees host-physical ("machine") frames, so the VMM writes each valid PTE with its
  frame translated (guest-physical + the RAM's offset) and two bits changed: U set on every
  leaf (the kernel runs in real U-mode, and U-mode reaches only U pages) and G cleared (a
  global TLB entry would match every ASID on the host: another VM's, and the user root's
  below). Reading its tables back the guest sees exactly that value (as a Xen x86-64 PV guest
  sees _PAGE_USER on its kernel pages); it converts the frame back with the offset the VMM
  publishes on the vCPU page (mmu.inc: pte_load; Xen: the machine-to-physical table).
* Virtual U-mode must not reach kernel pages that are now U = 1: for each pinned root the VMM
  keeps a user root in its own table pool, holding only the root's non-global pointers, and
  the hart runs on it while the guest is in virtual U (Xen x86-64 PV: a user page table per
  address space). So a leaf table is a kernel table (pointed to by a global root entry, or
  holding a leaf written with U = 0) or a user table (pointed to by a non-global root entry),
  fixed from the first such use until it is unpinned; a use of the other kind is refused.
* UNPIN_TABLE: a table not in use (not the current root; a leaf table no pinned root points
  to) stops being one; its valid entries get their guest-physical frames back, so outside
  pinned tables every frame number the guest holds is its own.

Errors (SBI): INVALID_ADDRESS an address outside guest RAM; INVALID_PARAM a misaligned address,
a bad level, a reserved bit combination, too many pairs, a frame that is no pinned table;
DENIED against the rules above (a write to a frame that is no page table, a writable mapping
of a page table, a pointer to an unpinned table, a kernel/user mix, a table in use).
"""

from vmkit.hw.paging import PTE_A, PTE_D, PTE_G, PTE_PPN_SHIFT, PTE_R, PTE_U, PTE_V, PTE_W, \
    PTE_X

from .sbi import DENIED, INVALID_ADDRESS, INVALID_PARAM

ROOT, LEAF = 1, 0
MAX_PAIRS = 128                  # one MMU_UPDATE (mmu.inc's PV_BATCH_MAX)
PAGE = 4096
FLAGS = 0x3FF                    # V R W X U G A D and the two software bits


class Refused(Exception):
    """A pair broke a rule: `error` is the SBI error the guest gets."""

    def __init__(self, error):
        self.error = error


class _State:
    """What the checks read and change: copied per hypercall, kept only if all of it passes."""

    def __init__(self, pinned=None, kinds=None, writable=None, pointers=None):
        self.pinned = dict(pinned or {})        # table frame (gpa) -> ROOT or LEAF
        self.kinds = dict(kinds or {})          # leaf table frame -> "kernel" or "user"
        self.writable = dict(writable or {})    # frame -> leaves in pinned tables mapping it W
        self.pointers = dict(pointers or {})    # leaf table -> root entries pointing at it
        self.writes = {}                        # PTE gpa -> the machine value to store

    def copy(self):
        return _State(self.pinned, self.kinds, self.writable, self.pointers)


class DirectPaging:
    def __init__(self, ram_start, ram_size, machine_offset, read_word, write_word):
        """Guest RAM is [ram_start, +ram_size), at host-physical gpa + machine_offset.
        read_word(gpa) / write_word(gpa, value): a word of guest RAM."""
        self.ram_start, self.ram_size, self.offset = ram_start, ram_size, machine_offset
        self.read_word, self.write_word = read_word, write_word
        self.state = _State()
        # pte_validations: every entry checked (batch pairs, a pinned frame's non-zero
        # entries), the VMM's work that the cost model prices (costs.py: pte_validate).
        self.stats = {"mmu_update_pairs": 0, "pte_validations": 0, "pt_pins": 0,
                      "pt_unpins": 0, "pt_validations_refused": 0, "baseptr_switches": 0}

    # -- questions -----------------------------------------------------------------------------
    def in_ram(self, gpa, length=PAGE):
        return self.ram_start <= gpa and gpa + length <= self.ram_start + self.ram_size

    def pinned(self, frame):
        return self.state.pinned.get(frame)

    def machine(self, gpa):
        return gpa + self.offset

    def user_entries(self, root):
        """(index, machine value) of the entries of pinned root `root` that its user root
        holds: the pointers to user tables."""
        return [(index, self.user_value(value)) for index, value in self._entries(root)]

    def user_value(self, value):
        """A root entry (machine value) as the user root holds it: itself or nothing."""
        if not value & PTE_V:
            return 0
        target = (self._to_guest(value) >> PTE_PPN_SHIFT) << 12
        return value if self.state.kinds.get(target) == "user" else 0

    # -- the hypercalls --------------------------------------------------------------------------
    def mmu_update(self, pairs):
        """Check every (pte gpa, value) pair, then write them all; raise Refused and change
        nothing if one is bad. Returns the root entries written: (root, index, machine value)."""
        if len(pairs) > MAX_PAIRS:
            self._refuse(INVALID_PARAM)
        state = self.state.copy()
        for pte, value in pairs:
            self._check_pair(state, pte, value)
        roots = [(pte & ~0xFFF, (pte & 0xFFF) >> 2, value) for pte, value in state.writes.items()
                 if state.pinned[pte & ~0xFFF] == ROOT]
        self._commit(state)
        self.stats["mmu_update_pairs"] += len(pairs)
        return [(root, index, self.user_value(value)) for root, index, value in roots]

    def pin(self, frame, level):
        """`frame` becomes a page table of `level`: its current entries (guest-physical, as the
        guest wrote them while it was plain memory) are checked and translated."""
        if level not in (ROOT, LEAF) or frame & 0xFFF:
            self._refuse(INVALID_PARAM)
        if not self.in_ram(frame):
            self._refuse(INVALID_ADDRESS)
        if frame in self.state.pinned or self.state.writable.get(frame, 0):
            self._refuse(DENIED)
        state = self.state.copy()
        state.pinned[frame] = level
        for index in range(PAGE // 4):           # as if it were all zero, then written
            state.writes[frame + 4 * index] = 0
        for index in range(PAGE // 4):
            value = self.read_word(frame + 4 * index)
            if value:
                self._check_pair(state, frame + 4 * index, value)
        self._commit(state)
        self.stats["pt_pins"] += 1

    def unpin(self, frame, current_root):
        level = self.state.pinned.get(frame)
        if level is None:
            self._refuse(INVALID_PARAM)
        if frame == current_root or self.state.pointers.get(frame, 0):
            self._refuse(DENIED)                 # in use: the hart may walk it
        state = self.state.copy()
        for index, old in self._entries(frame):
            self._forget(state, level, old)
            state.writes[frame + 4 * index] = self._to_guest(old)
        del state.pinned[frame]
        state.kinds.pop(frame, None)
        self._commit(state)
        self.stats["pt_unpins"] += 1

    def check_root(self, satp):
        """NEW_BASEPTR: the root gpa of a guest satp value (Sv32, root pinned at level 1)."""
        root = (satp & 0x3FFFFF) << 12
        if not satp >> 31:
            self._refuse(INVALID_PARAM)          # direct paging cannot be turned off
        if not self.in_ram(root):
            self._refuse(INVALID_ADDRESS)
        if self.state.pinned.get(root) != ROOT:
            self._refuse(DENIED)
        self.stats["baseptr_switches"] += 1
        return root

    # -- the checks ----------------------------------------------------------------------------
    def _refuse(self, error):
        self.stats["pt_validations_refused"] += 1
        raise Refused(error)

    def _check_pair(self, state, pte, value):
        self.stats["pte_validations"] += 1
        if not isinstance(pte, int) or not isinstance(value, int) or pte & 3 \
                or not 0 <= value < 1 << 32:
            self._refuse(INVALID_PARAM)
        if not self.in_ram(pte, 4):
            self._refuse(INVALID_ADDRESS)
        table = pte & ~0xFFF
        level = state.pinned.get(table)
        if level is None:
            self._refuse(DENIED)                 # not a page table: the guest writes it itself
        old = state.writes.get(pte)
        self._forget(state, level, self.read_word(pte) if old is None else old)
        if value & PTE_V:
            value = (self._pointer if level == ROOT else self._leaf)(state, table, value)
        state.writes[pte] = value

    def _pointer(self, state, root, value):
        """A root entry: a pointer to a pinned leaf table; the machine value to write."""
        target = (value >> PTE_PPN_SHIFT) << 12
        if value & (PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D):
            self._refuse(INVALID_PARAM)          # a superpage, or bits reserved on a pointer
        if not self.in_ram(target):
            self._refuse(INVALID_ADDRESS)
        if state.pinned.get(target) != LEAF:
            self._refuse(DENIED)
        self._set_kind(state, target, "kernel" if value & PTE_G else "user")
        state.pointers[target] = state.pointers.get(target, 0) + 1
        return self._to_machine(value) & ~PTE_G

    def _leaf(self, state, table, value):
        target = (value >> PTE_PPN_SHIFT) << 12
        if not value & (PTE_R | PTE_W | PTE_X) or value & PTE_W and not value & PTE_R:
            self._refuse(INVALID_PARAM)          # a pointer below a leaf table; W without R
        if not self.in_ram(target):
            self._refuse(INVALID_ADDRESS)        # not its RAM: another VM's, the VMM's, MMIO
        if value & PTE_W and target in state.pinned:
            self._refuse(DENIED)                 # a page table mapped writable
        if not value & PTE_U:
            self._set_kind(state, table, "kernel")
        if value & PTE_W:
            state.writable[target] = state.writable.get(target, 0) + 1
        return self._to_machine(value) & ~PTE_G | PTE_U

    def _set_kind(self, state, table, kind):
        if state.kinds.setdefault(table, kind) != kind:
            self._refuse(DENIED)                 # kernel and user pages in one leaf table

    def _forget(self, state, level, old):
        """Undo what the valid entry `old` (a machine value) counted."""
        if not old & PTE_V:
            return
        target = (self._to_guest(old) >> PTE_PPN_SHIFT) << 12
        counts = state.pointers if level == ROOT else state.writable
        if level == ROOT or old & PTE_W:
            left = counts.get(target, 0) - 1
            if left > 0:
                counts[target] = left
            else:
                counts.pop(target, None)

    def _commit(self, state):
        for pte, value in state.writes.items():
            if self.read_word(pte) != value:
                self.write_word(pte, value)
        state.writes = {}
        self.state = state

    # -- frames: guest-physical <-> machine, in a PTE's PPN field ------------------------------
    def _to_machine(self, value):
        return (value + (self.offset >> 12 << PTE_PPN_SHIFT)) & 0xFFFFFFFF

    def _to_guest(self, value):
        if not value & PTE_V:
            return value
        return (value - (self.offset >> 12 << PTE_PPN_SHIFT)) & 0xFFFFFFFF

    def _entries(self, table):
        """(index, value) of the valid entries of pinned table `table`."""
        entries = []
        for index in range(PAGE // 4):
            value = self.read_word(table + 4 * index)
            if value & PTE_V:
                entries.append((index, value))
        return entries
