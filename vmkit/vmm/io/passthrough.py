"""Device passthrough (device assignment): a physical, DMA-capable device given to one VM, the
lecture's hardware way of virtualizing I/O (x86: VT-d / AMD-Vi device assignment, VFIO in
Linux; with SR-IOV, one virtual function per VM).

The device is hardware here: its DMA goes onto the host's bus by itself, in bus addresses, and
its interrupt to the host's interrupt controller; the VMM is not in the data path. What the VMM
does is set the hardware up (`assign`):

* the IOMMU (vmkit/hw/iommu.py) gets a device context for the device: a second-stage table
  that maps the VM's guest-physical addresses, and nothing else, to the host frames of its RAM.
  The guest's unmodified driver then hands the device guest-physical addresses (IOVAs), and
  any other address faults in the IOMMU and is recorded. Without an IOMMU (`iommu.enabled`
  False) a bus address is a host-physical address: the device reaches all of host RAM, so the
  guest that programs it does too (the DMA attack of notebook 07), and its own driver, which
  knows only guest-physical addresses, does not even work unless told the host address of its
  RAM (a Xen PV guest knows its machine frames: `DMA_OFFSET` in vmkit/guest/virtio.inc).
* interrupt remapping: the device's interrupt goes through the IOMMU's table to the PLIC input
  of the VM that owns it, and to no other.

The device's registers stay where the VM's board puts them (io/board.py); a register access is
reached as every device's is under that engine (an exit under trap/bt/pv/hw, the bus under
native and emulate): vmkit does not map device registers into a guest. With a virtio device the
data path needs one register write per batch (the doorbell), so what passthrough saves here is
the VMM's handling of each request: the device moves the data itself.
"""

from vmkit.hw.iommu import BusDma
from vmkit.hw.paging import PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, SV32X4

DMA_FLAGS = PTE_R | PTE_W | PTE_U | PTE_A | PTE_D       # no X: a device does not fetch code


def assign(vm, device, iommu, device_id):
    """Give `device` (one of `vm`'s io devices, e.g. a VirtioBlk) to `vm` as hardware: its DMA
    through `iommu` as `device_id`, its interrupt remapped to `vm`'s PLIC input. Returns the
    host address of the second-stage root the IOMMU walks (None without an IOMMU)."""
    placed = [(base, source) for base, source, d in vm.io if d is device]
    if not placed:
        raise ValueError(f"{device.name} is not one of {vm.name}'s devices")
    host = vm.engine.host
    _, source = placed[0]
    root = None
    if iommu.enabled:
        root = vm.engine.memory.new_root(SV32X4)
        vm.engine.memory.map_region(root, "ram", DMA_FLAGS | PTE_V)
        iommu.set_device_context(device_id, root)
    iommu.remap_interrupt(device_id, vm.plic.input(source))
    device.dma = BusDma(host.machine.bus, iommu, device_id, counters=vm.counters,
                        written=lambda address, length: dma_written(host, vm, address, length))
    device.irq = lambda level: iommu.interrupt(device_id) if level else None
    return root


def dma_written(host, owner, address, length):
    """A device wrote host RAM [address, address + length): every VM whose RAM that is forgets
    the code it compiled from it (BaseEngine.guest_memory_written)."""
    vms = list(host.vms.values())
    if owner not in vms:
        vms.append(owner)
    frame = address & ~0xFFF
    for vm in vms:
        memory = getattr(vm.engine, "memory", None)
        gpa = memory.by_frame.get(frame) if memory is not None else None
        if gpa is not None:
            vm.engine.guest_memory_written(gpa + (address - frame), length)
