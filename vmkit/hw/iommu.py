"""An IOMMU: the hardware that translates and checks every DMA a device makes (the lecture's
hardware support for I/O virtualization: Intel VT-d, AMD-Vi; here after the RISC-V IOMMU
specification, version 1.0, whose names are used).

A device's DMA carries its `device_id` (PCIe: the requester ID, bus/device/function). The IOMMU
looks it up in the **device directory table** (VT-d: root and context tables) and finds its
**device context** (VT-d: a context entry). The context's `iohgatp` names a second-stage page
table (Sv32x4, the same format as the hart's G-stage: VT-d's second-level table, the DMA
equivalent of EPT), which maps the device's addresses (IOVAs: for a device assigned to a VM,
its guest-physical addresses) to host-physical ones. Each access is walked (hw/paging.py's
walker; an IOTLB caches the result per page) and checked: read needs R, write needs W, and a
G-stage leaf needs U. What does not translate is refused and recorded in the **fault queue**
(VT-d: the fault recording registers) with the spec's cause: 258 "DDT entry not valid" for a
device with no context, 21 / 23 "read / write guest-page fault" for an address its table does
not map for that access. The device sees the access fail; no byte moves.

**Interrupt remapping** (VT-d: the interrupt remapping table; the RISC-V IOMMU does it with
MSI page tables): a device's interrupt is routed by the IOMMU to where the VMM said, here the
PLIC input of the VM that owns the device; a device with no entry interrupts nobody (fault
cause 261, vmkit's own number for "interrupt blocked": the spec's MSI faults differ).

vmkit keeps the device directory and the remapping table as Python structures the VMM fills
through the methods below (the spec keeps them in memory and caches them, with commands such as
IODIR.INVAL_DDT and IOTINVAL.GVMA to flush the caches): the tables are the VMM's alone either
way, and only the second-stage page tables, which the walker reads from host RAM, would gain
from being in memory. `enabled=False` models a machine without an IOMMU: DMA addresses go to
the bus untranslated (the attack of notebook 07).
"""

from typing import NamedTuple

from .paging import PTE_R, PTE_U, PTE_W, SV32X4, WalkFault, walk

DDT_ENTRY_NOT_VALID = 258
READ_GUEST_PAGE_FAULT, WRITE_GUEST_PAGE_FAULT = 21, 23
INTERRUPT_BLOCKED = 261             # vmkit's own cause number (see the module docstring)
FAULT_QUEUE_SIZE = 64
PAGE = 4096
CAUSES = {DDT_ENTRY_NOT_VALID: "DDT entry not valid", READ_GUEST_PAGE_FAULT:
          "read guest-page fault", WRITE_GUEST_PAGE_FAULT: "write guest-page fault",
          INTERRUPT_BLOCKED: "interrupt blocked (no remapping entry)"}


class FaultRecord(NamedTuple):
    """One entry of the fault queue (the spec's 32-byte record, the fields vmkit fills)."""
    cause: int
    device_id: int
    iova: int
    write: bool

    def __str__(self):
        return (f"device {self.device_id}: {CAUSES.get(self.cause, self.cause)} at IOVA "
                f"{self.iova:#x} ({'write' if self.write else 'read'})")


class Iommu:
    def __init__(self, bus, enabled=True):
        self.bus, self.enabled = bus, enabled
        self.device_directory = {}          # device_id -> iohgatp root (host-physical)
        self.interrupt_remapping = {}       # device_id -> callable(level)
        self.iotlb = {}                     # (device_id, iova page, write) -> host page
        self.fault_queue = []               # FaultRecord, oldest first, at most 64
        self.faults_dropped = 0             # the queue was full (the spec sets fqof)
        self.translations = 0               # accesses translated (IOTLB hits included)
        self.walks = 0

    # -- what the VMM programs ------------------------------------------------------------------
    def set_device_context(self, device_id, root):
        """Device `device_id` translates through the Sv32x4 table at host address `root`."""
        self.device_directory[device_id] = root
        self.iotinval_gvma(device_id)

    def clear_device_context(self, device_id):
        """IODIR.INVAL_DDT: the device has no context any more; its DMA faults."""
        self.device_directory.pop(device_id, None)
        self.interrupt_remapping.pop(device_id, None)
        self.iotinval_gvma(device_id)

    def iotinval_gvma(self, device_id=None):
        """IOTINVAL.GVMA: forget cached translations (of one device, or all)."""
        self.iotlb = {key: page for key, page in self.iotlb.items()
                      if device_id is not None and key[0] != device_id}

    def remap_interrupt(self, device_id, deliver):
        self.interrupt_remapping[device_id] = deliver

    # -- what a device does -----------------------------------------------------------------------
    def translate(self, device_id, iova, write):
        """The host-physical address of `iova` for `device_id`'s access, or None (recorded)."""
        if not self.enabled:
            return iova
        self.translations += 1
        key = (device_id, iova // PAGE, write)
        page = self.iotlb.get(key)
        if page is not None:
            return page + iova % PAGE
        root = self.device_directory.get(device_id)
        if root is None:
            return self._fault(DDT_ENTRY_NOT_VALID, device_id, iova, write)
        self.walks += 1
        try:
            pte, _, _, address = walk(SV32X4, root >> 12, iova, self._read_pte, stage="G")
        except WalkFault:
            pte, address = 0, None
        need = PTE_U | (PTE_W if write else PTE_R)
        if address is None or pte & need != need:
            return self._fault(WRITE_GUEST_PAGE_FAULT if write else READ_GUEST_PAGE_FAULT,
                               device_id, iova, write)
        self.iotlb[key] = address - iova % PAGE
        return address

    def interrupt(self, device_id):
        """The device raises its interrupt: deliver it where the remapping table says."""
        deliver = self.interrupt_remapping.get(device_id)
        if deliver is None:
            self._fault(INTERRUPT_BLOCKED, device_id, 0, True)
            return
        deliver(True)

    def _read_pte(self, address):
        if not self.bus.is_ram(address, 4):
            raise WalkFault(f"page table at {address:#x} is not RAM")
        return int.from_bytes(self.bus.read_bytes(address, 4), "little")

    def _fault(self, cause, device_id, iova, write):
        if len(self.fault_queue) < FAULT_QUEUE_SIZE:
            self.fault_queue.append(FaultRecord(cause, device_id, iova, write))
        else:
            self.faults_dropped += 1
        return None


class BusDma:
    """The DMA window of a physical device on the host bus: its addresses are bus addresses,
    translated by the IOMMU when there is one (and enabled), host-physical when not. The same
    interface as a VMM device model's GuestDma (vmm/io/dma.py), so a virtio device model can
    be the hardware. An access is done whole or not at all."""

    def __init__(self, bus, iommu, device_id, counters=None, written=None):
        self.bus, self.iommu, self.device_id = bus, iommu, device_id
        self.counters = counters              # the owning VM's, for hardware_dma_bytes
        # written(host address, length): told of every DMA write, so that whoever runs code
        # from that memory forgets what it compiled from it (a device writes RAM behind the
        # CPU's back: the caches of a real CPU snoop the bus for the same reason).
        self.written = written

    def _pieces(self, address, length, write):
        """[(host address, length)] page by page, or None if any page does not translate."""
        pieces = []
        while length > 0:
            n = min(length, PAGE - address % PAGE)
            host = self.iommu.translate(self.device_id, address, write)
            if host is None or not self.bus.is_ram(host, n):
                return None
            pieces.append((host, n))
            address, length = address + n, length - n
        return pieces

    def read(self, address, length):
        if length < 0 or address < 0:
            return None
        pieces = self._pieces(address, length, write=False)
        if pieces is None:
            return None
        self._count(length)
        return b"".join(self.bus.read_bytes(host, n) for host, n in pieces)

    def write(self, address, data):
        if address < 0:
            return False
        pieces = self._pieces(address, len(data), write=True)
        if pieces is None:
            return False
        done = 0
        for host, n in pieces:
            self.bus.write_bytes(host, bytes(data[done:done + n]))
            if self.written is not None:
                self.written(host, n)
            done += n
        self._count(len(data))
        return True

    def _count(self, length):
        if self.counters is not None:
            self.counters.hardware_dma_bytes += length
