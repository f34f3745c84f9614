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
  RAM (a Xen PV guest knows its machine frames: `virtq_dma_offset` in vmkit/guest/virtio.inc,
  which `tell_bus_offset` writes).
* interrupt remapping: the device's interrupt goes through the IOMMU's table to the PLIC input
  of the VM that owns it, and to no other.

* the device's registers: the device sits on the host bus in the PCIe MMIO window of QEMU's
  `virt` board (0x4000_0000 + 4 KiB x device_id, where a real device's BAR would be), and an
  engine that can (`Engine.map_device`: hw, in its G-stage table) maps that page at the
  device's guest address, so the guest's doorbell and interrupt-status accesses reach the
  device with no exit at all. Under trap/bt/pv they still exit and the VMM forwards them (a
  software VMM would have to map the page in its shadow tables, which vmkit's do not do);
  under native and emulate the guest reaches its devices on the bus anyway.

SR-IOV (`PhysicalFunction`): one device shows itself as several, each assigned to another VM
and isolated from the others by the IOMMU, while the physical function stays with the host.
"""

from vmkit.hw.bus import Device
from vmkit.hw.iommu import BusDma
from vmkit.hw.paging import PTE_A, PTE_D, PTE_R, PTE_U, PTE_W, SV32X4

from .mmio import HardwareDevice
from .virtio_blk import VirtioBlk
from ..layout import GUEST_RAM

PCIE_MMIO = 0x4000_0000                 # QEMU virt's PCIe MMIO window (VIRT_PCIE_MMIO)
DMA_FLAGS = PTE_R | PTE_W | PTE_U | PTE_A | PTE_D       # no X: a device does not fetch code


def assign(vm, device, iommu, device_id):
    """Give `device` (one of `vm`'s io devices, e.g. a VirtioBlk) to `vm` as hardware: its DMA
    through `iommu` as `device_id`, its interrupt remapped to `vm`'s PLIC input. Returns the
    host address of the second-stage root the IOMMU walks (None without an IOMMU)."""
    placed = [(base, source) for base, source, d in vm.io if d is device]
    if not placed:
        raise ValueError(f"{device.name} is not one of {vm.name}'s devices")
    if not isinstance(device_id, int) or not 0 <= device_id < 256:
        raise ValueError(f"device_id must be 0..255, not {device_id!r}")
    host = vm.engine.host
    base, source = placed[0]
    bus, window = host.machine.bus, PCIE_MMIO + device_id * 0x1000
    bus.attach(window, HardwareDevice(device, vm, window))
    if not vm.engine.map_device(base, window, 0x1000):
        bus.devices = [entry for entry in bus.devices if entry[0] != window]
    root = None
    if iommu.enabled:
        root = second_stage(vm)
        iommu.set_device_context(device_id, root)
    iommu.remap_interrupt(device_id, vm.plic.input(source))
    device.dma = BusDma(host.machine.bus, iommu, device_id, counters=vm.counters,
                        written=lambda address, length: dma_written(host, vm, address, length))
    device.irq = lambda level: iommu.interrupt(device_id) if level else None
    return root


def second_stage(vm):
    """The Sv32x4 table the IOMMU walks for `vm`'s devices: under hw the VM's own G-stage
    table, shared with the IOMMU as Xen's `iommu=sharept` shares the EPT (it maps guest RAM,
    and the assigned devices' registers, which a DMA cannot reach: it is not RAM); else one of
    its own that maps guest RAM, readable and writable, not executable."""
    shared = getattr(vm.engine, "gstage_root", None)
    if shared is not None:
        return shared
    root = vm.engine.memory.new_root(SV32X4)
    vm.engine.memory.map_region(root, "ram", DMA_FLAGS)
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


def tell_bus_offset(vm, program):
    """Without an IOMMU: write into the guest's `virtq_dma_offset` word (virtio.inc) what it
    must add to a guest-physical address to get the bus address of the same byte, as a
    paravirtual kernel is told its machine frames. Returns that offset."""
    offset = vm.engine.memory.gpa_to_hpa(GUEST_RAM) - GUEST_RAM
    vm.write_guest(program.symbols["virtq_dma_offset"], (offset & 0xFFFFFFFF).to_bytes(4, "little"))
    return offset


# -- SR-IOV ---------------------------------------------------------------------------------------

FIRST_VF_OFFSET, VF_STRIDE = 1, 1       # PCIe SR-IOV capability: VF i is PF + offset + i * stride


class PhysicalFunction(Device):
    """An SR-IOV disk controller (PCIe Single Root I/O Virtualization): one physical function
    (PF), the host's, and N virtual functions (VFs), each a light device of its own, here a
    VirtioBlk on its own disk (a slice of the controller's storage, as an NVMe namespace), with
    its own device_id (routing ID: PF + First VF Offset + i * VF Stride), so that the IOMMU
    gives each VF the second-stage table of the VM it is assigned to (`assign`). The PF stays
    with the host: its registers (a u32 at 4 * i) count the requests each VF has served."""
    name = "sriov-pf"
    size = 0x100

    def __init__(self, disks, pf_id=0x10):
        if not 0 <= pf_id and pf_id + FIRST_VF_OFFSET + len(disks) * VF_STRIDE > 256:
            raise ValueError("the PF's and its VFs' device_ids must fit in 0..255")
        self.pf_id = pf_id
        self.vfs = [VirtioBlk(disk, name=f"vf{i}") for i, disk in enumerate(disks)]
        self.vf_ids = [pf_id + FIRST_VF_OFFSET + i * VF_STRIDE for i in range(len(disks))]

    def plug_host(self, host):
        """Put the PF's registers on the host bus (the PCIe MMIO window, at its own ID)."""
        base = PCIE_MMIO + self.pf_id * 0x1000
        host.machine.bus.attach(base, self)
        return base

    def read(self, offset, size):
        index = offset // 4
        if size != 4 or offset % 4 or index >= len(self.vfs):
            return 0
        return self.vfs[index].requests & 0xFFFFFFFF

    def write(self, offset, size, value):
        pass                                  # vmkit's VFs are all enabled from the start


# -- the demonstration of notebook 07 --------------------------------------------------------------

ATTACK_PAYLOAD = b"PWNED!!!" * 64       # sector 0 of the attacker's disk


def dma_attack(engine="hw", iommu=True, victim_engine="trap", before_run=None):
    """Two VMs on one host: "victim" (not run), then "attacker", whose assigned virtio-blk it
    asks to read sector 0 (ATTACK_PAYLOAD) into the victim's RAM at guest-physical 0x8000_1000,
    given as the host-physical address (vmkit/guest/dmaattack.s). `iommu`: whether the host has
    one; `before_run(host)` is called when all is set up. Returns a dict: host, victim,
    attacker, iommu, target (host-physical), stop (the attacker's), victim_before and
    victim_after (the victim's RAM)."""
    from vmkit.guest import build
    from vmkit.hw.iommu import Iommu
    from vmkit.vmm.engines import engine_class
    from vmkit.vmm.host import Host

    from .disk import SECTOR, RawDisk
    host = Host(64 << 20)
    victim = host.create_vm(build("callret", iterations=1), engine=victim_engine, name="victim")
    target = victim.engine.memory.gpa_to_hpa(GUEST_RAM) + 0x1000
    blk = VirtioBlk(RawDisk(data=ATTACK_PAYLOAD + bytes(7 * SECTOR)))
    program = build("dmaattack", pv=engine_class(engine).needs_pv_build,
                    equates={"TARGET": target})
    attacker = host.create_vm(program, engine=engine, name="attacker", io=[blk])
    unit = Iommu(host.machine.bus, enabled=iommu)
    if not iommu:
        tell_bus_offset(attacker, program)
    assign(attacker, blk, unit, device_id=7)
    before = victim.read_guest(GUEST_RAM, victim.ram_size)
    if before_run is not None:
        before_run(host)
    stop = attacker.run(5_000_000)
    return {"host": host, "victim": victim, "attacker": attacker, "iommu": unit,
            "target": target, "stop": stop, "victim_before": before,
            "victim_after": victim.read_guest(GUEST_RAM, victim.ram_size)}
