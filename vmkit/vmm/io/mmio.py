"""Emulated I/O: a guest's MMIO access exits to the VMM, which finishes the instruction in Python.

The guest believes it talks to a 16550 UART at 0x1000_0000. Nothing is mapped there for it, so
its load or store faults (a guest-page fault under `hw`, an access fault elsewhere) and the VMM
gets the exit: it decodes the faulting instruction, performs the access on its own device
model, writes the loaded value into the guest's register and steps over the instruction. One
exit per access: this is what makes emulated I/O transparent but slow (x86: an `IN`/`OUT` or
MMIO VM exit handled by QEMU's device model).

Source: the lecture's claim 7.
"""

from vmkit.hw.bus import BusError
from vmkit.isa import decode

# name -> (size, signed) for the loads and stores a driver may use on a device register.
LOADS = {"lb": (1, True), "lbu": (1, False), "lh": (2, True), "lhu": (2, False),
         "lw": (4, False)}
STORES = {"sb": 1, "sh": 2, "sw": 4}


class CountedDevice:
    """A device model of `vm` placed on a bus the guest's CPU reaches itself (emulate's
    software CPU, native's host hart), seen through a counter: under `emulate` device
    accesses are steps of the software CPU, not exits, but the device model still does the
    same work per access. A device model that fails stops the VM, naming the device (the
    hart would turn the exception into an anonymous internal error)."""

    def __init__(self, device, vm, base):
        self.device, self.vm, self.counters = device, vm, vm.counters
        self.name, self.size = device.name, device.size
        self.component = device_name(device, base)

    def count(self):
        self.counters.device_accesses += 1
        self.counters.by_device[self.name] += 1

    def read(self, offset, size):
        self.count()
        try:
            return self.device.read(offset, size)
        except BusError:
            raise                                  # an access fault for the guest: fine
        except Exception as error:
            self.vm.fail(self.component, error)
            raise

    def write(self, offset, size, value):
        self.count()
        try:
            self.device.write(offset, size, value)
        except BusError:
            raise
        except Exception as error:
            self.vm.fail(self.component, error)
            raise


class HardwareDevice(CountedDevice):
    """A device the guest reaches on the bus itself (native; an assigned device mapped into
    its G-stage under hw): its accesses are counted as the hardware's
    (`direct_device_accesses`), not as device-model work."""

    def count(self):
        self.counters.direct_device_accesses += 1
        self.counters.by_device[self.name] += 1


def device_name(device, base):
    """How a VMM failure names a device model: "device uart0 at 0x10000000"."""
    return f"device {device.name} at {base:#010x}"


class GuestDevices:
    """The guest-physical MMIO map: which device model answers at which address."""

    def __init__(self):
        self.regions = []                            # (base, end, device)

    def attach(self, base, device):
        self.regions.append((base, base + device.size, device))
        return device

    def find(self, gpa):
        for base, end, device in self.regions:
            if base <= gpa < end:
                return device, gpa - base
        return None, 0

    def component(self, gpa):
        """The device model at `gpa`, named for a failure report."""
        device, offset = self.find(gpa)
        return "device model" if device is None else device_name(device, gpa - offset)


def emulate_access(devices, registers, word, gpa):
    """Perform the load/store `word` at guest-physical `gpa` on a device model.

    Returns True when done (the caller then steps the guest's pc over the instruction), False
    when the access cannot be emulated: no device there, not a load/store, or a width the
    device refuses. The caller turns False into an access fault for the guest.
    """
    row, ops = decode(word, aliases=False)
    if row is None or row.name not in LOADS and row.name not in STORES:
        return False
    size = LOADS[row.name][0] if row.name in LOADS else STORES[row.name]
    # A misaligned access is done byte by byte, in ascending order, as the host hart does it
    # (hart.py, after QEMU): so the guest sees the same registers under every engine.
    pieces = [(gpa, size)] if gpa % size == 0 else [(gpa + i, 1) for i in range(size)]
    targets = [devices.find(address) + (width,) for address, width in pieces]
    try:
        if row.name in LOADS:
            value = 0
            for shift, (device, offset, width) in enumerate(targets):
                if device is None:
                    return False
                value |= (device.read(offset, width) & ((1 << (8 * width)) - 1)) << (8 * shift)
            if LOADS[row.name][1] and value >> (8 * size - 1):
                value |= (0xFFFFFFFF << (8 * size)) & 0xFFFFFFFF
            if ops["d"]:
                registers[ops["d"]] = value
            return True
        if any(device is None for device, _, _ in targets):
            return False                   # checked first: a fault leaves every device alone
        value = registers[ops["t"]] & ((1 << (8 * size)) - 1)
        for shift, (device, offset, width) in enumerate(targets):
            device.write(offset, width, (value >> (8 * shift)) & ((1 << (8 * width)) - 1))
        return True
    except BusError:
        return False
