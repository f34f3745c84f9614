"""Guest interrupts: the VM's PLIC and its external-interrupt line (x86: the I/O APIC a VMM
emulates for its guest, and the virtual INTR line it raises by event injection).

The guest sees vmkit's PLIC model (hw/devices/plic.py, QEMU 7.2's `virt` PLIC) at the `virt`
address 0x0C00_0000, so an unmodified kernel's PLIC driver works. Its kernel runs in S-mode, so
its context is hart 0's S-mode context (context 1), as on QEMU `virt`. Context 0 (M-mode) is the
firmware's, here the VMM's: a guest may write it as it may on QEMU, but it drives nothing
(the guest has no M-mode and mie.MEIE stays 0), so it can only confuse its own PLIC.

The output of context 1 is the guest's external interrupt line, mip.SEIP. Each engine delivers
it its own way (`Engine.set_external_pending`): hw through hvip.VSEIP, trap/bt/pv as a pending
SEIP bit in the vCPU record; under native and emulate the CPU's own PLIC input is this PLIC,
which computes mip.SEIP as on hardware. The line can change only when the PLIC is accessed or
a source is signalled, so it is re-evaluated exactly then; each rise counts as one interrupt
injected, as the timer's does.

Sources: the guest UART's interrupt is source 10 (UART0_IRQ); `vm.raise_irq(n)` drives any
other. Signals follow QEMU 7.2: a line signalled high latches the source pending, one
interrupt per signal; signalling it low clears nothing (the guest's claim does).

Input arrives only between two `vm.run` calls (vm.raise_irq, vm.uart.feed): a guest waiting in
wfi with no timer armed stops its run with "wfi", and a rising line lets the next vm.run go on
after its wfi. So skipping idle time to the timer never skips past an input.
"""

from vmkit.hw.devices import Plic

S_CONTEXT = 1                     # hart 0, S-mode: the guest kernel's context


class GuestPlic(Plic):
    """The PLIC a VM's guest sees: vmkit's PLIC, whose S-context output is watched."""

    def __init__(self, vm):
        super().__init__()
        self.vm = vm
        # Both contexts' outputs, recomputed after every change (`update`): a CPU that reads
        # the PLIC at each interrupt check (native, emulate) then costs no scan of the sources.
        self.lines = [False, False]

    @property
    def line(self):
        """The guest's external interrupt line, mip.SEIP."""
        return self.lines[S_CONTEXT]

    def pending_context(self, ctx):
        return self.lines[ctx]

    def input(self, source):
        """The callable a device model drives its interrupt line with (its `irq`)."""
        def irq(level):
            if level:                 # a low signal changes nothing (QEMU 7.2): skip it
                self.set_level(source, True)
        return irq

    def set_level(self, source, level):
        super().set_level(source, level)
        if level:                     # a low signal changes nothing (QEMU 7.2)
            self.update()

    def read(self, offset, size):
        value = super().read(offset, size)        # a claim lowers the line
        self.update()
        return value

    def write(self, offset, size, value):
        super().write(offset, size, value)        # enable, priority, threshold, complete
        self.update()

    def update(self):
        """Recompute both outputs; tell the engine when the guest's line moved. (State changed
        other than by an access or a signal, say by a snapshot restore, must call this.)"""
        was = self.line
        self.lines = [Plic.pending_context(self, ctx) for ctx in range(len(self.lines))]
        line = self.line
        if line == was:
            return
        vm = self.vm
        if line:
            vm.counters.interrupts_injected += 1
            if vm.stop is not None and vm.stop.reason == "wfi":
                vm.stop = None        # what the guest waited for came: the next run goes on
        vm.engine.set_external_pending(line)
