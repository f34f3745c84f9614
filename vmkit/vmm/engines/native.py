"""`native`: the yardstick. The guest kernel runs in real S-mode on the host hart, with the VMM
playing the firmware (OpenSBI's role) in M-mode. Nothing is virtualized: the kernel's CSR
accesses, traps and UART accesses all happen in hardware; only SBI calls (ecall from S-mode,
cause 9) reach Python. Guest-physical = host-physical.

Protection still holds: the firmware's PMP lets S/U-mode touch only the guest's RAM, the
UART and the PLIC (the VM's device models, put on the host bus in place of the host's own);
anything else is an access fault the kernel gets (as on a real board).

Device accesses are real here: every load or store the kernel makes to a UART register goes to
the device over the bus, which is slow on real hardware (Adams & Agesen: ~3,200 cycles for a
native x86 `in`). The engine counts them (`direct_device_accesses`) for the cost model.
"""

from vmkit.hw import csr as C
from vmkit.hw.trap import ECALL_FROM_S

from ..exits import ExitReason, VmExit
from ..io import HardwareDevice
from ..layout import GUEST_RAM
from ..memory import Region
from .base import PMP_RW, PMP_RWX, HartEngine, guest_pmp

# Exceptions the kernel handles itself (everything but ecall from S, which is the SBI call).
DELEGATED = sum(1 << c for c in (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 15))


class NativeEngine(HartEngine):
    name = "native"
    title = "the kernel in real S-mode, the VMM as its firmware: the yardstick"
    bare_metal = True                 # see Host.claim_bare_metal
    table_pool = 0                    # no page tables: the kernel's own, or none
    paging_mode = "native"            # the hart walks the kernel's own tables

    def ram_region(self):
        # Identity: the kernel runs where it was linked, in host RAM at 0x8000_0000.
        return Region("ram", GUEST_RAM, self.vm.ram_size, fixed=True)

    def setup(self, entry):
        hart = self.hart
        regions = self.vm.devices.regions
        # NAPOT windows are powers of two: the PLIC's 6 MiB gets 8 MiB, whose last 2 MiB
        # have no device (an access fault from the bus, as the PMP would give).
        guest_pmp(hart, [(self.ram_base, self.vm.ram_size, PMP_RWX)] +
                  [(base, 1 << (end - base - 1).bit_length(), PMP_RW)
                   for base, end, _ in regions])
        for base, _, device in regions:
            self._attach(base, device)
        hart.plic = self.vm.plic              # its S context drives the hart's mip.SEIP
        hart.medeleg = DELEGATED
        hart.mideleg = C.S_INTERRUPTS
        hart.mcounteren = 0b111               # cycle, time, instret readable from S and U
        hart.intercept = {"M"}                # traps to M-mode are the firmware's: Python's
        hart.priv, hart.virt = 1, False       # as `mret` to S-mode would leave it
        hart.pc = entry
        hart.x[10] = 0                        # a0 = hartid
        hart.translation_changed()

    def _attach(self, base, device):
        """Put the VM's device model on the host bus at its guest address, in place of the
        host machine's own device there, counting the accesses the guest makes."""
        devices = self.machine.bus.devices
        for index, (start, end, _) in enumerate(devices):
            if start == base:
                devices[index] = (start, end, HardwareDevice(device, self.vm, base))
                return
        self.machine.bus.attach(base, HardwareDevice(device, self.vm, base))

    def trap_exit(self, exit):
        if exit.cause == ECALL_FROM_S:
            return VmExit(ExitReason.SBI)
        return VmExit(ExitReason.ERROR,
                      message=f"unexpected trap to the firmware: {exit.describe()}")
