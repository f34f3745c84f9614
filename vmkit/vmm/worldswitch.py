"""The world switch: the one hart goes from running one VM to running another (x86: VMX
transitions between two guests' VMCSs: VMCLEAR/VMPTRLD of the next vCPU's VMCS, then
VMLAUNCH/VMRESUME; KVM's vcpu_put / vcpu_load).

The outgoing VM's hart context (vmkit/hw/context.py: registers, CSRs, PMP, counters, the traps
its engine intercepts), its time and the PLIC wired to the hart's external interrupt line (the
native VM's own guest PLIC) are saved; the incoming VM's are loaded. It is done lazily,
when a VM's engine is about to use the hart (`activate`), so a VM whose CPU is software
(`emulate`) never costs one.

No TLB flush: every VM's translations are tagged with its own VMID (hw) or ASID (trap, pv, bt)
from the host's allocators, so they can stay in the TLB side by side. The exception is the
engine that owns the bare metal (native): its kernel chooses its own ASIDs, which the host does
not allocate, so a switch to or from it flushes the HS-level entries (x86: a host without PCID
reloading CR3). A VM made with `tlb_tagged=False` runs as on a CPU without ASIDs and VMIDs (x86:
VT-x before VPID): a switch to or from it flushes the whole TLB, and while it runs the TLB
flushes on every change of address space too (vmkit/hw/tlb.py).

MMU counters: the hart's MMU counts for whichever VM is on it, so the switch books what it
counted (TLB lookups, misses, walks, walk references: `Mmu.counters`) to the VM it ran for.
`mmu_counters(engine)` is one VM's share, which the VM's counters report.

Time: the hart's CLINT counts retired instructions, and all of a VM's own instructions retire
on it, so while a VM is on the hart mtime is that VM's guest time. The switch saves mtime with
the context and writes the incoming VM's back (M-mode firmware may write mtime): each guest
sees exactly the time it would see alone. (The H extension's own tool, htimedelta, shifts only
what VS-mode reads, so it could not serve native or the trap family; hw leaves it at 0.)
"""

from vmkit.hw.context import load_context, save_context
from vmkit.hw.devices.clint import MTIME
from vmkit.hw.mmu import COUNTERS


class WorldSwitch:
    def __init__(self, host):
        self.host = host
        self.blank = save_context(host.hart)     # a hart just out of reset, nothing set up
        self.current = None                      # the engine whose context is on the hart
        self.saved = {}                          # engine -> (context, mtime, PLIC)
        self.switches = 0                        # world switches done
        self.flushes = 0                         # of them, those that had to flush the TLB
        self.mmu_booked = {}                     # engine -> its MMU counts, while off the hart
        self.mmu_since = None                    # the MMU's counts when `current` came on

    def install(self, engine, setup):
        """Set up a new VM on the hart: the current VM's state goes out, the hart is made
        blank, `setup()` programs it for the new VM, which is now on the hart."""
        self._save()
        self._load(engine, self.blank, 0, self.host.machine.plic)
        setup()

    def activate(self, engine):
        """Put `engine`'s VM on the hart (a world switch, unless it is there already)."""
        if self.current is engine:
            return
        context, mtime, plic = self.saved.pop(engine)
        self._save()
        self._load(engine, context, mtime, plic)
        self.switches += 1
        engine.world_switches += 1

    def forget(self, engine):
        """The VM is gone: drop its saved state."""
        self.saved.pop(engine, None)
        self.mmu_booked.pop(engine, None)
        if self.current is engine:
            self.current = None

    def mmu_counters(self, engine):
        """What the hart's MMU counted while `engine`'s VM was on it (Mmu.counters' keys)."""
        counts = dict(self.mmu_booked.get(engine) or dict.fromkeys(COUNTERS, 0))
        if self.current is engine:
            now = self.host.hart.mmu.counters()
            for key in counts:
                counts[key] += now[key] - self.mmu_since[key]
        return counts

    def _save(self):
        if self.current is not None:
            hart = self.host.hart
            self.mmu_booked[self.current] = self.mmu_counters(self.current)
            self.saved[self.current] = (save_context(hart), self.host.machine.clint.mtime,
                                        hart.plic)

    def _load(self, engine, context, mtime, plic):
        previous, hart = self.current, self.host.hart
        tlb, tagged = self.host.machine.tlb, engine.vm.tlb_tagged
        if not (tagged and (previous is None or previous.vm.tlb_tagged)):
            tlb.flush_all()                            # no tags: nothing may survive
            self.flushes += 1
        elif getattr(engine, "bare_metal", False) or getattr(previous, "bare_metal", False):
            tlb.flush_vma()                            # its ASIDs are not the host's
            self.flushes += 1
        tlb.tagged, tlb.context = tagged, None
        load_context(hart, context)
        hart.plic = plic               # whose PLIC drives mip.SEIP: native wires its VM's own
        clint = self.host.machine.clint
        clint.write(MTIME, 4, mtime & 0xFFFF_FFFF)
        clint.write(MTIME + 4, 4, mtime >> 32)
        self.current = engine
        self.mmu_since = hart.mmu.counters()
