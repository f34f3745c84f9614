"""The virtio-mmio transport, version 2 (virtio 1.2, section 4.2.2): how a paravirtual device
shows itself to the guest on a plain memory-mapped bus (QEMU's `virtio-mmio` on `virt`; on x86
the same devices sit behind PCI, virtio-pci).

The driver finds the device by its magic and ID, then (3.1.1): reset (status 0), ACKNOWLEDGE,
DRIVER, reads the device's features and writes those it accepts, FEATURES_OK (the device keeps
it only if the set is acceptable), sets up each queue (QueueSel, QueueNum, the three area
addresses, QueueReady), DRIVER_OK. After that a write of a queue's index to QueueNotify is
the doorbell, the one register access per batch of requests: under trap/bt/hw it is one VM exit
for the whole batch, where an emulated disk needs several per sector. The device answers by
the used ring and an interrupt (InterruptStatus bit 0; bit 1: its configuration changed).

Registers are 32-bit; the configuration space from 0x100 is the device's own (`config`). A
register access of another width is ignored and reads 0, as QEMU does (virtio-mmio.c logs it
as a guest error). A driver that breaks a queue's rules puts the device into
DEVICE_NEEDS_RESET (2.1.2): it sets that status bit, raises a configuration-change interrupt
and ignores its queues until the driver resets it.

A device type subclasses `VirtioMmioDevice`: `device_id`, `features` (its own feature bits),
`queue_count`, `config` (bytes) and `process(queue_index, queue)`.
"""

import struct

from vmkit.hw.bus import Device

from .virtqueue import Virtqueue, VirtqueueError

MAGIC = 0x74726976                     # "virt"
VERSION = 2                            # virtio-mmio, no legacy
VENDOR_ID = 0x554D4551                 # "QEMU": what QEMU's devices report
QUEUE_NUM_MAX = 256

# Register offsets (virtio 1.2, 4.2.2, table "MMIO Device Register Layout").
MAGIC_VALUE, VERSION_REG, DEVICE_ID, VENDOR = 0x000, 0x004, 0x008, 0x00C
DEVICE_FEATURES, DEVICE_FEATURES_SEL = 0x010, 0x014
DRIVER_FEATURES, DRIVER_FEATURES_SEL = 0x020, 0x024
QUEUE_SEL, QUEUE_NUM_MAX_REG, QUEUE_NUM, QUEUE_READY = 0x030, 0x034, 0x038, 0x044
QUEUE_NOTIFY = 0x050
INTERRUPT_STATUS, INTERRUPT_ACK = 0x060, 0x064
STATUS = 0x070
QUEUE_DESC_LOW, QUEUE_DESC_HIGH = 0x080, 0x084
QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH = 0x090, 0x094
QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH = 0x0A0, 0x0A4
SHM_SEL, SHM_LEN_LOW, SHM_LEN_HIGH, SHM_BASE_LOW, SHM_BASE_HIGH = 0x0AC, 0x0B0, 0x0B4, 0x0B8, 0x0BC
QUEUE_RESET = 0x0C0
CONFIG_GENERATION = 0x0FC
CONFIG = 0x100
QUEUE_ADDRESSES = {QUEUE_DESC_LOW: ("desc", False), QUEUE_DESC_HIGH: ("desc", True),
                   QUEUE_DRIVER_LOW: ("driver", False), QUEUE_DRIVER_HIGH: ("driver", True),
                   QUEUE_DEVICE_LOW: ("device", False), QUEUE_DEVICE_HIGH: ("device", True)}

# Device status bits (2.1).
ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK = 1, 2, 4, 8
DEVICE_NEEDS_RESET, FAILED = 64, 128
# Interrupt status bits (4.2.2).
USED_BUFFER, CONFIG_CHANGE = 1, 2
# Feature bits common to every device (6).
VIRTIO_F_INDIRECT_DESC, VIRTIO_F_EVENT_IDX, VIRTIO_F_VERSION_1 = 28, 29, 32


class QueueConfig:
    """What the driver wrote about one queue (its addresses are 64-bit, in two halves)."""

    def __init__(self):
        self.num, self.ready = 0, 0
        self.desc = self.driver = self.device = 0


class VirtioMmioDevice(Device):
    transport = "virtio"
    size = 0x200
    device_id = 0
    features = 0                      # the device type's own feature bits
    queue_count = 1

    def __init__(self):
        self.dma = None
        self.irq = lambda level: None
        self.reset()

    def plug(self, dma, irq):
        self.dma, self.irq = dma, irq

    def reset(self):
        """Status 0: the device forgets everything the driver told it (3.1.1 step 1)."""
        self.status = 0
        self.interrupt_status = 0
        self.device_features_sel = self.driver_features_sel = 0
        self.driver_features = 0
        self.queue_sel = 0
        self.queues = [QueueConfig() for _ in range(self.queue_count)]
        self.rings = [None] * self.queue_count          # Virtqueue once QueueReady
        self.notifications = 0                          # doorbell writes, counted
        self.broken = ""                                 # why DEVICE_NEEDS_RESET, if so

    @property
    def offered(self):
        return (self.features | 1 << VIRTIO_F_VERSION_1 | 1 << VIRTIO_F_EVENT_IDX
                | 1 << VIRTIO_F_INDIRECT_DESC)

    def negotiated(self, bit):
        return bool(self.driver_features >> bit & 1)

    # -- registers ------------------------------------------------------------------------------
    def read(self, offset, size):
        if offset >= CONFIG:
            return self.read_config(offset - CONFIG, size)
        if size != 4 or offset % 4:
            return 0                          # QEMU: "wrong size access to register!"
        queue = self._selected()
        if offset == MAGIC_VALUE:
            return MAGIC
        if offset == VERSION_REG:
            return VERSION
        if offset == DEVICE_ID:
            return self.device_id
        if offset == VENDOR:
            return VENDOR_ID
        if offset == DEVICE_FEATURES:
            select = self.device_features_sel
            return self.offered >> (32 * select) & 0xFFFFFFFF if select < 2 else 0
        if offset == QUEUE_NUM_MAX_REG:
            return QUEUE_NUM_MAX if queue else 0
        if offset == QUEUE_READY:
            return queue.ready if queue else 0
        if offset == INTERRUPT_STATUS:
            return self.interrupt_status
        if offset == STATUS:
            return self.status
        if offset in (SHM_LEN_LOW, SHM_LEN_HIGH):
            return 0xFFFFFFFF                 # no shared memory regions (4.2.2)
        return 0                              # write-only registers, CONFIG_GENERATION

    def write(self, offset, size, value):
        if offset >= CONFIG:
            return self.write_config(offset - CONFIG, size, value)
        if size != 4 or offset % 4:
            return                            # QEMU ignores it
        queue = self._selected()
        if offset == DEVICE_FEATURES_SEL:
            self.device_features_sel = value
        elif offset == DRIVER_FEATURES:
            if self.driver_features_sel < 2 and not self.status & FEATURES_OK:
                shift = 32 * self.driver_features_sel
                self.driver_features = (self.driver_features & ~(0xFFFFFFFF << shift)
                                        | value << shift)
        elif offset == DRIVER_FEATURES_SEL:
            self.driver_features_sel = value
        elif offset == QUEUE_SEL:
            self.queue_sel = value
        elif offset == QUEUE_NUM:
            if queue and not queue.ready:
                queue.num = value
        elif offset == QUEUE_READY:
            self._queue_ready(queue, value)
        elif offset == QUEUE_NOTIFY:
            self._notify(value)
        elif offset == INTERRUPT_ACK:
            self.interrupt_status &= ~value
        elif offset == STATUS:
            self._set_status(value)
        elif offset in QUEUE_ADDRESSES:
            if queue and not queue.ready:        # 4.2.2: not while the queue is ready
                name, high = QUEUE_ADDRESSES[offset]
                old = getattr(queue, name)
                setattr(queue, name, (old & 0xFFFFFFFF | value << 32) if high
                        else (old & ~0xFFFFFFFF | value))
        elif offset == QUEUE_RESET:
            if queue and value == 1:
                self.queues[self.queue_sel] = QueueConfig()
                self.rings[self.queue_sel] = None

    def _selected(self):
        return self.queues[self.queue_sel] if self.queue_sel < self.queue_count else None

    def read_config(self, offset, size):
        config = self.config
        if size not in (1, 2, 4) or offset + size > len(config):
            return 0
        return int.from_bytes(config[offset:offset + size], "little")

    def write_config(self, offset, size, value):
        pass                                  # read-only unless a device type says otherwise

    @property
    def config(self):
        return b""

    # -- the driver's steps ---------------------------------------------------------------------
    def _set_status(self, value):
        if value == 0:
            self.reset()
            return
        value &= 0xFF
        if value & FEATURES_OK and not self.status & FEATURES_OK:
            # 3.1.1 step 5: keep FEATURES_OK only for a subset of what was offered that
            # includes VERSION_1 (a modern transport has no legacy interface).
            if self.driver_features & ~self.offered or not self.negotiated(VIRTIO_F_VERSION_1):
                value &= ~FEATURES_OK
        self.status = value | self.status & DEVICE_NEEDS_RESET

    def _queue_ready(self, queue, value):
        if queue is None:
            return
        index = self.queues.index(queue)
        if not value & 1:
            queue.ready, self.rings[index] = 0, None
            return
        try:
            self.rings[index] = Virtqueue(self.dma, queue.num, queue.desc, queue.driver,
                                          queue.device,
                                          event_idx=self.negotiated(VIRTIO_F_EVENT_IDX),
                                          indirect=self.negotiated(VIRTIO_F_INDIRECT_DESC))
            queue.ready = 1
        except VirtqueueError as error:
            self.needs_reset(str(error))

    def _notify(self, index):
        self.notifications += 1
        if not self.status & DRIVER_OK or self.status & DEVICE_NEEDS_RESET:
            return
        if not 0 <= index < self.queue_count or self.rings[index] is None:
            return                                 # a doorbell for no queue: nothing to do
        self.kick(index)

    def kick(self, index):
        """Work through queue `index`; interrupt the driver if it wants it."""
        ring = self.rings[index]
        try:
            done = self.process(index, ring)
            ring.publish_avail_event()
            if done and ring.want_interrupt():
                self.interrupt(USED_BUFFER)
        except VirtqueueError as error:
            self.needs_reset(str(error))

    def interrupt(self, why):
        self.interrupt_status |= why
        self.irq(True)

    def needs_reset(self, why):
        """The driver broke the rules: stop serving queues until it resets the device."""
        self.broken = why
        self.status |= DEVICE_NEEDS_RESET
        if self.status & DRIVER_OK:
            self.interrupt(CONFIG_CHANGE)

    def process(self, index, ring):
        """Serve the requests available on queue `index`; return how many were served."""
        raise NotImplementedError

    # -- snapshots -------------------------------------------------------------------------------
    def save_state(self):
        return {"registers": [self.status, self.interrupt_status, self.device_features_sel,
                              self.driver_features_sel, self.driver_features, self.queue_sel,
                              self.notifications, self.broken],
                "queues": [[q.num, q.ready, q.desc, q.driver, q.device] for q in self.queues],
                "rings": [None if r is None else [r.last_avail, r.used_idx, r.signalled_used]
                          for r in self.rings]}

    def load_state(self, state):
        try:
            (status, isr, dsel, drsel, features, qsel, notes, broken) = state["registers"]
            queues = [QueueConfig() for _ in range(self.queue_count)]
            for q, saved in zip(queues, state["queues"], strict=True):
                q.num, q.ready, q.desc, q.driver, q.device = saved
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"device {self.name}: the saved state does not fit ({error})")
        self.status, self.interrupt_status = status, isr
        self.device_features_sel, self.driver_features_sel = dsel, drsel
        self.driver_features, self.queue_sel, self.notifications = features, qsel, notes
        self.broken, self.queues = broken, queues
        self.rings = [None] * self.queue_count
        for index, (q, saved) in enumerate(zip(queues, state["rings"])):
            if q.ready and saved is not None:
                self._queue_ready(q, 1)
                ring = self.rings[index]
                if ring is not None:
                    ring.last_avail, ring.used_idx, ring.signalled_used = saved
