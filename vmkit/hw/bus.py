"""Physical memory and the system bus: RAM plus memory-mapped devices.

RAM is one `bytearray` (no per-page objects: a 64 MiB machine costs about 64 MiB of host
memory). Devices are small objects with `read(offset, size)` and `write(offset, size, value)`
placed at physical addresses, as on QEMU's `virt` board. An access that hits nothing raises
`BusError`, which the hart turns into an access-fault exception, never a Python error.

x86 name: this is the "physical address space" the chipset decodes; MMIO here is what
IN/OUT port I/O and MMIO are on a PC.
"""

from .state import load_plain_state, plain_state


class BusError(Exception):
    """An access to a physical address where nothing answers (becomes an access fault)."""

    def __init__(self, address: int):
        super().__init__(f"no device at physical address {address:#010x}")
        self.address = address


class Device:
    """What the bus needs from a device. Offsets are relative to the device's base address.

    A device may raise `BusError` for an access it does not support (a wrong width, say);
    it must not raise anything else.
    """

    name = "device"
    size = 0

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        pass

    def save_state(self) -> dict:
        """The device's registers and queues as plain data, for a snapshot (state.py)."""
        return plain_state(self)

    def load_state(self, state) -> None:
        """Restore `save_state()`'s data; ValueError, and nothing changed, if it does not fit."""
        load_plain_state(self, state, f"device {self.name}")


class Bus:
    def __init__(self, ram_base: int = 0x8000_0000, ram_size: int = 128 << 20, ram=None):
        """`ram`: existing memory to use (a writable memoryview, e.g. a slice of another
        machine's RAM: how a VMM hands a guest its share); default a new zeroed bytearray."""
        if ram is not None:
            ram_size = len(ram)
        if ram_size <= 0 or ram_size % 4096 or ram_base % 4096:
            raise ValueError("RAM base and size must be positive multiples of 4 KiB")
        self.ram_base = ram_base
        self.ram_size = ram_size
        self.ram_end = ram_base + ram_size
        self.ram = bytearray(ram_size) if ram is None else ram
        self.devices = []                      # (base, end, device), sorted by base

    # -- devices --------------------------------------------------------------------------
    def attach(self, base: int, device: Device) -> Device:
        end = base + device.size
        if base < self.ram_end and self.ram_base < end:
            raise ValueError(f"{device.name} at {base:#x} overlaps RAM")
        for other_base, other_end, other in self.devices:
            if base < other_end and other_base < end:
                raise ValueError(f"{device.name} at {base:#x} overlaps {other.name}")
        self.devices.append((base, end, device))
        self.devices.sort(key=lambda entry: entry[0])
        return device

    def device_at(self, address: int):
        """(device, offset) for an MMIO address, or (None, 0)."""
        for base, end, device in self.devices:
            if base <= address < end:
                return device, address - base
        return None, 0

    # -- accesses -------------------------------------------------------------------------
    def is_ram(self, address: int, size: int = 1) -> bool:
        return self.ram_base <= address and address + size <= self.ram_end

    def load(self, address: int, size: int) -> int:
        """Read `size` (1, 2 or 4) bytes, little-endian."""
        if self.is_ram(address, size):
            at = address - self.ram_base
            return int.from_bytes(self.ram[at:at + size], "little")
        device, offset = self.device_at(address)
        if device is not None:
            return device.read(offset, size) & ((1 << (8 * size)) - 1)
        raise BusError(address)

    def store(self, address: int, size: int, value: int) -> None:
        if self.is_ram(address, size):
            at = address - self.ram_base
            self.ram[at:at + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            return
        device, offset = self.device_at(address)
        if device is not None:
            device.write(offset, size, value & ((1 << (8 * size)) - 1))
            return
        raise BusError(address)

    def write_bytes(self, address: int, data: bytes) -> None:
        """Copy a program image into RAM (the loader's path; devices are not involved)."""
        if not self.is_ram(address, len(data)):
            raise BusError(address)
        at = address - self.ram_base
        self.ram[at:at + len(data)] = data

    def read_bytes(self, address: int, length: int) -> bytes:
        if not self.is_ram(address, length):
            raise BusError(address)
        at = address - self.ram_base
        return bytes(self.ram[at:at + length])
