"""The platform devices of the simulated host machine, laid out as QEMU's `virt` board.

* `Uart16550`  - NS16550A serial port (x86: the COM1 UART at port 0x3F8, here memory-mapped)
* `Clint`      - core-local interruptor: mtime, mtimecmp, msip (x86: the local APIC timer + IPIs)
* `Plic`       - platform-level interrupt controller (x86: the I/O APIC)
* `SifiveTest` - the test finisher: a store powers the machine off (x86: ACPI S5 / isa-debug-exit)
* `Htif`       - Spike's host-target interface (`tohost`/`fromhost` words in RAM, not MMIO)

The source of truth for every address and interrupt number below is QEMU 7.2,
hw/riscv/virt.c (`virt_memmap[]`, `UART0_IRQ`, `VIRTIO_IRQ`) and include/hw/riscv/virt.h
(`VIRT_IRQCHIP_NUM_SOURCES`, `VIRT_PLIC_*`), checked against the device tree that
`qemu-system-riscv32 -M virt,dumpdtb=virt.dtb` writes.
"""

from vmkit.hw.bus import BusError

# name -> (base, size); QEMU 7.2 hw/riscv/virt.c, virt_memmap[].
VIRT_MEMORY_MAP = {
    "test":   (0x0010_0000, 0x1000),        # sifive_test finisher      [VIRT_TEST]
    "clint":  (0x0200_0000, 0x10000),       # ACLINT MSWI + MTIMER      [VIRT_CLINT]
    "plic":   (0x0C00_0000, 0x600000),      # PLIC, room for 1 hart     [VIRT_PLIC]
    "uart0":  (0x1000_0000, 0x100),         # NS16550A                  [VIRT_UART0]
    "virtio": (0x1000_1000, 0x1000),        # first of 8 virtio-mmio slots, 0x1000 apart
    "dram":   (0x8000_0000, 128 << 20),     # RAM; QEMU's default -m is 128 MiB
}

# PLIC interrupt sources; QEMU 7.2 include/hw/riscv/virt.h.
UART0_IRQ = 10
VIRTIO_IRQ = 1                              # slot n (0..7) uses source 1 + n
VIRTIO_COUNT = 8


def access_error(device, offset: int, size: int, what: str = "access") -> BusError:
    """The BusError a device raises for an access it does not decode (QEMU: an access fault).

    `address` holds the offset inside the device; the device does not know its base.
    """
    error = BusError(offset)
    error.args = (f"{device.name}: {size}-byte {what} at offset {offset:#x} is not supported",)
    return error


# Imported after access_error, which the device modules use.
from .clint import Clint                    # noqa: E402
from .finisher import SifiveTest            # noqa: E402
from .htif import Htif                      # noqa: E402
from .plic import Plic                      # noqa: E402
from .uart import Uart16550                 # noqa: E402

__all__ = [
    "VIRT_MEMORY_MAP", "UART0_IRQ", "VIRTIO_IRQ", "VIRTIO_COUNT", "access_error",
    "Clint", "Htif", "Plic", "SifiveTest", "Uart16550",
]
