"""How a device model reaches guest memory by itself (direct memory access), and how it
raises its interrupt: the two things a DMA-capable device needs besides its registers.

A device the VMM emulates (virtio here; QEMU's device models on x86) reads and writes the
guest's RAM in guest-physical addresses, through the VMM (`GuestDma`): it can reach nothing
else, because the VMM checks every access against the VM's RAM. A device on the real bus
(passthrough, vmkit/hw/iommu.py) addresses host-physical memory, and only an IOMMU stands
between it and memory that is not its VM's.

Every byte is counted (`counters.dma_bytes`): the cost model prices a copy per byte, since the
VMM's CPU does it. A physical device's DMA (hw/iommu.py BusDma) is counted apart
(`hardware_dma_bytes`) and not priced: the device moves the bytes, the CPU does nothing.
"""


class GuestDma:
    """A VMM device model's window on its VM's RAM: guest-physical addresses, checked."""

    def __init__(self, vm):
        self.vm = vm

    def read(self, gpa, length):
        """`length` bytes at guest-physical `gpa`, or None if any of them is not guest RAM."""
        if length < 0 or gpa < 0:
            return None
        data = self.vm.read_guest(gpa, length)
        if data is not None:
            self.vm.counters.dma_bytes += length
        return data

    def write(self, gpa, data):
        """Write `data` at `gpa`; False (and nothing written) if any byte is not guest RAM."""
        if gpa < 0 or not self.vm.write_guest(gpa, bytes(data)):
            return False
        self.vm.counters.dma_bytes += len(data)
        return True
