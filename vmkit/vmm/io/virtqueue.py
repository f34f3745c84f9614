"""The virtio split virtqueue, seen from the device (virtio 1.2, section 2.7): the ring a
paravirtual driver and a device share in guest memory (Xen's I/O rings; x86 and RISC-V alike).

Three areas the driver allocates in its RAM and tells the device where they are:

    descriptor table  size x 16 bytes: addr (u64), len (u32), flags (u16), next (u16)
    available ring    flags (u16), idx (u16), ring[size] (u16 heads), used_event (u16)
    used ring         flags (u16), idx (u16), ring[size] {id u32, len u32}, avail_event (u16)

The driver chains descriptors (flags NEXT) into one request, puts its head in the available
ring and bumps avail.idx; the device takes it (`pop`), does the work, puts {head, bytes it
wrote} in the used ring and bumps used.idx (`push`). Indices run freely mod 2^16.

Everything the device reads here is written by the guest, so it is hostile input: a chain that
loops or runs longer than the queue, a head or next beyond the table, a buffer outside guest
RAM or whose end overflows, a readable buffer after a writable one, an indirect table of a bad
length, an avail.idx that runs more than `size` ahead: each raises `VirtqueueError`, which the
transport turns into DEVICE_NEEDS_RESET (virtio 1.2, 2.1.2). Nothing outside the VM is ever
touched: every access goes through the device's DMA window (dma.py), which checks it.

Notification suppression (2.7.7, 2.7.10): with VIRTIO_F_EVENT_IDX the driver says in used_event
after which used index it wants an interrupt, and the device says in avail_event after which
available index it wants a notification (`want_interrupt`, `publish_avail_event`); without it
the flags NO_INTERRUPT / NO_NOTIFY say "none at all" and "none needed".
"""

import struct
from dataclasses import dataclass

DESC_SIZE = 16
VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT = 1, 2, 4
VIRTQ_AVAIL_F_NO_INTERRUPT = 1
VIRTQ_USED_F_NO_NOTIFY = 1
MAX_QUEUE_SIZE = 32768                  # virtio 1.2, 2.7: Queue Size at most 32768
MAX_CHAIN_BYTES = 1 << 24               # vmkit's bound on one request's buffers (16 MiB)


class VirtqueueError(Exception):
    """The driver broke the ring's rules: the device needs a reset."""


@dataclass
class Buffer:
    """One descriptor of a chain: a guest-physical buffer the device reads or writes."""
    addr: int
    length: int
    writable: bool


@dataclass
class Chain:
    """One request: the descriptors from `head`, readable ones first, then writable ones."""
    head: int
    readable: list
    writable: list

    def read_all(self, dma):
        """The readable buffers' bytes, joined."""
        return b"".join(_dma_read(dma, b.addr, b.length) for b in self.readable)

    def write_all(self, dma, data):
        """Scatter `data` into the writable buffers in order; returns the bytes written
        (which may be fewer than `data` when the buffers are shorter)."""
        done = 0
        for buffer in self.writable:
            if done == len(data):
                break
            piece = data[done:done + buffer.length]
            if not dma.write(buffer.addr, piece):
                raise VirtqueueError(f"buffer at {buffer.addr:#x} is not guest RAM")
            done += len(piece)
        return done

    @property
    def writable_bytes(self):
        return sum(b.length for b in self.writable)


class Virtqueue:
    def __init__(self, dma, size, desc, avail, used, event_idx=False, indirect=False):
        """The queue the driver set up: `size` entries (a power of 2 up to 32768 for a
        split queue), its three areas at guest-physical `desc`, `avail`, `used`."""
        if not 0 < size <= MAX_QUEUE_SIZE or size & (size - 1):
            raise VirtqueueError(f"queue size {size} is not a power of 2 up to {MAX_QUEUE_SIZE}")
        if desc % 16 or avail % 2 or used % 4:
            raise VirtqueueError("a ring area is misaligned (virtio 1.2, 2.7: 16, 2 and 4)")
        self.dma, self.size = dma, size
        self.desc, self.avail, self.used = desc, avail, used
        self.event_idx, self.indirect = event_idx, indirect
        self.last_avail = 0                  # the next available entry the device takes
        self.used_idx = 0                    # the device's used.idx
        self.signalled_used = 0              # used.idx at the last interrupt (EVENT_IDX)

    # -- reading the driver's side ---------------------------------------------------------------
    def _u16(self, gpa):
        return struct.unpack("<H", _dma_read(self.dma, gpa, 2))[0]

    def avail_idx(self):
        return self._u16(self.avail + 2)

    def pending(self):
        """How many requests the driver has made available and the device not yet taken."""
        ahead = (self.avail_idx() - self.last_avail) & 0xFFFF
        if ahead > self.size:
            raise VirtqueueError(f"avail.idx ran {ahead} entries ahead of a queue of {self.size}")
        return ahead

    def pop(self):
        """The next request, or None when the driver has made none available."""
        if not self.pending():
            return None
        slot = self.avail + 4 + 2 * (self.last_avail % self.size)
        head = self._u16(slot)
        self.last_avail = (self.last_avail + 1) & 0xFFFF
        return self._chain(head)

    def _descriptor(self, table, count, index):
        if index >= count:
            raise VirtqueueError(f"descriptor {index} is beyond a table of {count}")
        addr, length, flags, nxt = struct.unpack(
            "<QIHH", _dma_read(self.dma, table + DESC_SIZE * index, DESC_SIZE))
        return addr, length, flags, nxt

    def _chain(self, head):
        chain = Chain(head, [], [])
        table, count, index = self.desc, self.size, head
        seen, total, in_indirect = 0, 0, False
        while True:
            addr, length, flags, nxt = self._descriptor(table, count, index)
            seen += 1
            if seen > count:
                raise VirtqueueError("the descriptor chain loops (longer than its table)")
            if flags & VIRTQ_DESC_F_INDIRECT:
                if not self.indirect or in_indirect or flags & VIRTQ_DESC_F_NEXT:
                    raise VirtqueueError("an indirect descriptor where none is allowed "
                                         "(not negotiated, nested, or chained: 2.7.5.3.1)")
                if length == 0 or length % DESC_SIZE or length // DESC_SIZE > MAX_QUEUE_SIZE:
                    raise VirtqueueError(f"an indirect table of {length} bytes")
                if addr % 16:
                    raise VirtqueueError("a misaligned indirect table")
                table, count, index, seen, in_indirect = addr, length // DESC_SIZE, 0, 0, True
                continue
            if addr + length > 1 << 64:
                raise VirtqueueError(f"buffer {addr:#x}+{length:#x} wraps the address space")
            total += length
            if total > MAX_CHAIN_BYTES:
                raise VirtqueueError(f"a request of more than {MAX_CHAIN_BYTES} bytes")
            writable = bool(flags & VIRTQ_DESC_F_WRITE)
            if not writable and chain.writable:
                raise VirtqueueError("a device-readable buffer after a device-writable one "
                                     "(2.7.4.2)")
            (chain.writable if writable else chain.readable).append(
                Buffer(addr, length, writable))
            if not flags & VIRTQ_DESC_F_NEXT:
                return chain
            index = nxt

    # -- the device's side ----------------------------------------------------------------------
    def push(self, head, written):
        """Return request `head` to the driver, saying the device wrote `written` bytes."""
        slot = self.used + 4 + 8 * (self.used_idx % self.size)
        self._write(slot, struct.pack("<II", head, written))
        self.used_idx = (self.used_idx + 1) & 0xFFFF
        self._write(self.used + 2, struct.pack("<H", self.used_idx))   # after the entry

    def want_interrupt(self):
        """May the device interrupt the driver for what it has just pushed?"""
        if self.event_idx:
            used_event = self._u16(self.avail + 4 + 2 * self.size)
            old, self.signalled_used = self.signalled_used, self.used_idx
            return need_event(used_event, self.used_idx, old)
        return not self._u16(self.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT

    def publish_avail_event(self):
        """EVENT_IDX: ask to be notified when the driver makes the next request available
        (the device has taken all before it); without it, nothing to say: the device never
        sets NO_NOTIFY, since it works through the queue at every notification."""
        if self.event_idx:
            self._write(self.used + 4 + 8 * self.size, struct.pack("<H", self.last_avail))

    def _write(self, gpa, data):
        if not self.dma.write(gpa, data):
            raise VirtqueueError(f"the used ring at {gpa:#x} is not guest RAM")


def need_event(event, new, old):
    """virtio 1.2, 2.7.10: notify iff `event` lies in [old, new) mod 2^16 (vring_need_event)."""
    return (new - event - 1) & 0xFFFF < (new - old) & 0xFFFF


def _dma_read(dma, gpa, length):
    data = dma.read(gpa, length) if gpa + length <= 1 << 64 else None
    if data is None:
        raise VirtqueueError(f"{length} bytes at {gpa:#x} are not guest RAM")
    return data
