"""Where a VM's I/O devices sit in guest-physical memory and which PLIC source each drives.

virtio devices take the `virt` board's virtio-mmio slots in order, as QEMU fills them:
slot n at 0x1000_1000 + n * 0x1000, PLIC source 1 + n (QEMU 7.2 hw/riscv/virt.c). The register-
level emulated devices (the ATA-style disk, the NE2000-style NIC) have no place on `virt`,
which has no ISA bus: vmkit puts them in the free 64 KiB after the virtio slots, one 4 KiB
window each, on PLIC sources 12 and up (10 is the UART, 11 the RTC on QEMU).

A device says which it is with its class attribute `transport`: "virtio" or "emulated".
"""

from vmkit.hw.devices import VIRT_MEMORY_MAP, VIRTIO_COUNT, VIRTIO_IRQ

VIRTIO_BASE = VIRT_MEMORY_MAP["virtio"][0]
SLOT = 0x1000
EMULATED_BASE = VIRTIO_BASE + VIRTIO_COUNT * SLOT + 0x7000      # 0x1001_0000
EMULATED_IRQ = 12
EMULATED_COUNT = 8


def place(devices):
    """[(base, irq, device)] for `devices` in order; ValueError when a kind runs out."""
    placed, used = [], {"virtio": 0, "emulated": 0}
    for device in devices:
        kind = getattr(device, "transport", None)
        if kind not in used:
            raise ValueError(f"{device!r} is not an I/O device (its transport must be "
                             "'virtio' or 'emulated')")
        n = used[kind]
        if n == (VIRTIO_COUNT if kind == "virtio" else EMULATED_COUNT):
            raise ValueError(f"too many {kind} devices: the board has {n} slots")
        used[kind] += 1
        if kind == "virtio":
            placed.append((VIRTIO_BASE + n * SLOT, VIRTIO_IRQ + n, device))
        else:
            placed.append((EMULATED_BASE + n * SLOT, EMULATED_IRQ + n, device))
    return placed
