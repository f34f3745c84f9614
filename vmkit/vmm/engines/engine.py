"""The engine interface: what the run loop (vm.py), the lab and the widgets may ask of a
CPU-virtualization technique (x86/KVM: the split between KVM's generic `kvm_run` loop and the
vendor module, `kvm_x86_ops` of VMX or SVM).

An engine places guest RAM somewhere in host-physical memory, runs guest code until something
needs the VMM (`enter`, KVM_RUN) and reports that as a `VmExit`. Callers outside vmm/engines/
use only what is defined here: the methods, and the capability attributes instead of an
engine's name. The defaults below fit a guest kernel that really runs in S-mode on `cpu`
(native, emulate); an engine whose guest state lives elsewhere overrides them.
"""

from abc import ABC, abstractmethod

from vmkit.hw import csr as C
from vmkit.hw.context import check_context, load_context, save_context

# sstatus sie stvec scounteren sscratch sepc scause stval sip satp
SUPERVISOR_CSRS = (0x100, 0x104, 0x105, 0x106, 0x140, 0x141, 0x142, 0x143, 0x144, 0x180)


class Engine(ABC):
    name = "?"                 # the registry key (engines.ENGINES)
    title = ""                 # one line: what the technique is
    needs_pv_build = False     # runs the paravirtual build of a workload (pv)
    has_vm_exits = False       # the guest runs in VS-mode: its exits are real VM exits (hw;
    #                            the cost model prices them as VM exits, not trap round trips)
    # How the guest kernel's own paging (satp) is virtualized: "native" (the hart walks the
    # guest's tables: it is the machine), "soft" (the VMM's software MMU walks them: emulate),
    # "shadow" (the hart walks the VMM's shadow tables: trap, bt; x86: VMware, KVM without
    # EPT), "nested" (the hart walks the guest's tables and the VMM's G-stage: hw; x86:
    # EPT/NPT), "direct" (the guest's own tables, updated through validating hypercalls: Xen
    # PV); None: the engine refuses a guest that turns paging on (its VM stops with an error).
    # Each engine states its own.
    paging_mode = None
    paging_refused = False     # set when the engine stopped a guest that turned paging on
    software_cpu = False       # guest code runs on a CPU the VMM simulates, not the hart
    deprivileged = False       # the guest kernel runs in real U-mode; its privilege is virtual
    reflection = "sets the virtual scause, sepc, sstatus"   # how a reflected trap reaches the
    #                                                         guest kernel (lab's timeline)
    cpu = None                 # the hart (or software CPU) that runs guest code
    gstage_pages = ()          # G-stage leaf sizes the VMM can build (hw), its default first
    # What the VMM sets up on `cpu` for its guest and the guest cannot change (intercepts, PMP,
    # delegation, the VMM's page tables): not guest state, so a snapshot loads the guest's
    # state under the loading VMM's own values (x86: the VMCS controls and host state are not
    # in a migration stream) and a crafted file cannot let the guest escape. And the modes
    # guest code runs in, (priv, virt): a state in any other is refused.
    vmm_owned = ("intercept", "pmpcfg", "pmpaddr", "medeleg", "mideleg", "mcounteren")
    guest_modes = frozenset({(1, False), (0, False)})

    # -- guest memory and boot ----------------------------------------------------------------
    @abstractmethod
    def load(self, segments, entry):
        """Copy [(gpa, bytes, memsize)] into guest RAM and start the guest at `entry`."""

    @abstractmethod
    def read_guest(self, gpa, length):
        """`length` bytes of guest RAM at `gpa`, or None if any is outside it."""

    @abstractmethod
    def write_guest(self, gpa, data):
        """Write guest RAM (cached code there is dropped); False if outside it."""

    # -- running --------------------------------------------------------------------------------
    @abstractmethod
    def enter(self, budget):
        """Run the guest for up to `budget` instructions; return the `VmExit` (KVM_RUN)."""

    def activate(self):
        """Put this VM's CPU state on the hart before anything else touches it: a world
        switch when another VM ran there (host.py; nothing to do for a software CPU)."""

    @abstractmethod
    def pass_time(self, ticks):
        """Guest time skipped while it waits in wfi."""

    # -- snapshots (vmm/snapshot.py) ------------------------------------------------------------
    def save_state(self):
        """The guest state the engine holds, as plain data (JSON-ready): the guest's CPU (its
        architectural context, hw/context.py) and the timer it reads time from. Caches
        (decoded code, compiled blocks, TLB) are not state: they are rebuilt. An engine that
        keeps more of the guest (a vCPU record) adds it. Guest RAM is the caller's."""
        return {"cpu": save_context(self.cpu), "clint": self.cpu.clint.save_state()}

    def load_state(self, state):
        """Make `save_state()`'s data the engine's state; ValueError when it does not fit
        (the caller, snapshot.py, then loads the state it saved before)."""
        if not isinstance(state, dict) or not {"cpu", "clint"} <= set(state):
            raise ValueError(f"engine {self.name}: the state lacks cpu or clint")
        context = self._under_our_settings(state["cpu"])
        check_context(context)
        if (context["priv"], context["virt"]) not in self.guest_modes:
            raise ValueError(f"engine {self.name}: the guest cannot run in privilege "
                             f"{context['priv']} (virt={context['virt']})")
        self.cpu.clint.load_state(state["clint"])
        load_context(self.cpu, context)
        self.cpu.mmu.tlb.flush_all()     # the guest's page tables may differ in restored RAM

    def _under_our_settings(self, context):
        """`context` with what the VMM owns (`vmm_owned`) replaced by this VMM's values."""
        if not isinstance(context, dict) or not isinstance(context.get("csrs"), dict):
            return context                          # check_context says what is wrong
        ours = save_context(self.cpu)
        context = dict(context, csrs=dict(context["csrs"]))
        for name in self.vmm_owned:
            if name in ours:
                context[name] = ours[name]
            else:
                context["csrs"][name] = ours["csrs"][name]
        return context

    def mmu_counters(self):
        """What `cpu`'s MMU counted for this VM (TLB, walks: hw/mmu.py Mmu.counters)."""
        return self.cpu.mmu.counters()

    def statistics(self):
        """The engine's own counters for the cost model (bt: its translation cache)."""
        return {}

    def map_device(self, gpa, hpa, size):
        """Let the guest reach the device registers at host-physical `hpa` at its own `gpa`
        without exits (passthrough, vmm/io/passthrough.py): True if this engine can (hw: in
        its G-stage table, as a VMM maps an assigned device's BARs into the EPT), False if its
        accesses keep exiting to the VMM, which forwards them."""
        return False

    # -- the guest's CPU, as the VMM sees it ------------------------------------------------------
    @property
    def registers(self):
        return self.cpu.x

    def complete_instruction(self):
        """The VMM finished the instruction at pc (an SBI ecall, an MMIO access): step over."""
        cpu = self.cpu
        cpu.pc = (cpu.pc + 4) & 0xFFFFFFFF
        cpu.retire(1)
        self.vm.counters.emulated(1)

    def inject(self, trap):
        """Deliver an exception to the guest kernel, as the hardware would have."""
        self.cpu.take_trap(trap)

    def fault_address(self, exit):
        """The address a guest access fault reports (stval) for an MMIO exit."""
        return exit.gpa

    def set_timer_pending(self, pending):
        # The firmware raises the supervisor timer interrupt by writing mip.STIP, as OpenSBI.
        cpu = self.cpu
        cpu.mip_soft = cpu.mip_soft | C.STIP if pending else cpu.mip_soft & ~C.STIP

    def timer_enabled(self):
        return bool(self.cpu.mie & C.STIP)

    def set_external_pending(self, pending):
        """The guest's external interrupt line (its PLIC's S context, irq.py) changed. Here
        nothing to do: `cpu` takes mip.SEIP from the guest PLIC itself, as on hardware."""

    def guest_privilege(self):
        """The privilege the guest believes it runs at (1 = S, 0 = U)."""
        return self.cpu.priv

    def read_supervisor_csr(self, number):
        """A supervisor CSR as the guest kernel would read it."""
        return self.cpu.csrs.read(number)

    def translation_at(self, host_pc):
        """Binary translation: (guest pc of the block, guest pc of the instruction) whose
        translation holds host address `host_pc`; None where code runs as it is (every engine
        but bt). A widget uses it to show the guest pc while the hart runs translated code."""
        return None

    def guest_state(self):
        """Everything the guest can observe of its CPU: registers, pc and supervisor CSRs.
        Equal under every engine for the same guest: the transparency the lecture asks for."""
        return guest_state(self.registers, self.cpu.pc, self.read_supervisor_csr)


def guest_state(x, pc, read_csr):
    return {"x": tuple(x), "pc": pc, "csrs": {n: read_csr(n) for n in SUPERVISOR_CSRS}}


def pages(gpa, length):
    """The page-aligned addresses of the pages [gpa, gpa + length) touches."""
    return range(gpa & ~0xFFF, gpa + length, 4096) if length > 0 else range(0)
