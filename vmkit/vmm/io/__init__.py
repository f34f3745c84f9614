"""I/O virtualization: the devices a guest sees and how each reaches it (lecture: I/O
virtualization; x86 names beside each module).

    mmio.py        emulated I/O: a guest's device access exits to the VMM, which finishes the
                   instruction on a device model in Python (x86: IN/OUT, MMIO exits to QEMU)
    dma.py         how a device model reaches guest memory (its DMA) and raises its interrupt
    ata.py         an emulated disk controller in the style of ATA PIO (register by register)
    ne2000.py      an emulated NIC in the style of the NE2000 (frames copied through a data port)
    disk.py        disk images: a raw file, and a copy-on-write overlay on a read-only base
    virtqueue.py   the virtio split virtqueue, parsed as hostile input
    virtio_mmio.py the virtio-mmio (version 2) transport: registers, features, status, notify
    virtio_blk.py  the paravirtual disk (virtio-blk)
    virtio_net.py  the paravirtual NIC (virtio-net)
    switch.py      a learning L2 switch joining VMs' NICs, with a mirror port
    passthrough.py a physical device assigned to a VM, its DMA through the IOMMU (hw/iommu.py)
    board.py       where each device sits in guest-physical memory, which PLIC source it drives
"""

from .mmio import (LOADS, STORES, CountedDevice, GuestDevices, HardwareDevice, device_name,
                   emulate_access)

__all__ = ["LOADS", "STORES", "CountedDevice", "GuestDevices", "HardwareDevice", "device_name",
           "emulate_access"]
