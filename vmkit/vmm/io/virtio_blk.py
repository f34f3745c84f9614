"""virtio-blk: the paravirtual disk (virtio 1.2, section 5.2; Xen's blkfront/blkback).

One request queue. A request is a chain: a 16-byte header the device reads (type u32,
reserved u32, sector u64), the data buffers (read for OUT, written for IN and GET_ID), and one
status byte the device writes last: OK 0, IOERR 1, UNSUPP 2. The configuration space starts
with the capacity in 512-byte sectors (u64). Offered: VIRTIO_BLK_F_FLUSH (the driver may ask
for a flush; vmkit's disks are written through, so a flush only counts), VIRTIO_BLK_F_RO when
the disk is read-only.

A request the disk cannot serve (past its end, not whole sectors, a write to a read-only disk)
fails with IOERR; one whose shape is wrong (no room for the status, a header too short) too.
Only a chain that breaks the ring's rules (virtqueue.py) puts the device into
DEVICE_NEEDS_RESET. Left out: discard, write-zeroes, multiqueue, topology, geometry.
"""

import struct

from .disk import SECTOR, DiskError
from .virtio_mmio import VirtioMmioDevice
from .virtqueue import VirtqueueError

VIRTIO_ID_BLOCK = 2
VIRTIO_BLK_F_RO, VIRTIO_BLK_F_FLUSH = 5, 9
VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID = 0, 1, 4, 8
VIRTIO_BLK_S_OK, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_UNSUPP = 0, 1, 2
HEADER = 16
ID_BYTES = 20                          # VIRTIO_BLK_ID_BYTES


class VirtioBlk(VirtioMmioDevice):
    device_id = VIRTIO_ID_BLOCK

    def __init__(self, disk, name="virtio-blk", serial=b"vmkit-disk"):
        self.disk, self.name, self.serial = disk, name, serial[:ID_BYTES]
        self.requests = 0                  # requests served, by the device's count
        super().__init__()

    @property
    def features(self):
        return 1 << VIRTIO_BLK_F_FLUSH | (1 << VIRTIO_BLK_F_RO if self.disk.readonly else 0)

    @property
    def config(self):
        return struct.pack("<Q", self.disk.sectors)

    def process(self, index, ring):
        served = 0
        while (chain := ring.pop()) is not None:
            written = self.serve(chain)
            ring.push(chain.head, written)
            served += 1
        self.requests += served
        return served

    def serve(self, chain):
        """Do one request; returns the bytes written into the driver's buffers."""
        if not chain.writable or chain.writable[-1].length < 1:
            return self._finish(chain, b"", VIRTIO_BLK_S_IOERR)   # nowhere to put a status
        header = chain.read_all(self.dma)
        if len(header) < HEADER:
            return self._finish(chain, b"", VIRTIO_BLK_S_IOERR)
        kind, _, sector = struct.unpack_from("<IIQ", header)
        data_in = chain.writable_bytes - 1              # room before the status byte
        try:
            if kind == VIRTIO_BLK_T_IN:
                if data_in % SECTOR:
                    raise DiskError("a read of part of a sector")
                return self._finish(chain, self.disk.read(sector, data_in // SECTOR),
                                    VIRTIO_BLK_S_OK)
            if kind == VIRTIO_BLK_T_OUT:
                self.disk.write(sector, header[HEADER:])
                return self._finish(chain, b"", VIRTIO_BLK_S_OK)
            if kind == VIRTIO_BLK_T_FLUSH:
                self.disk.flush()
                return self._finish(chain, b"", VIRTIO_BLK_S_OK)
            if kind == VIRTIO_BLK_T_GET_ID:
                return self._finish(chain, self.serial.ljust(ID_BYTES, b"\0")[:data_in],
                                    VIRTIO_BLK_S_OK)
        except DiskError:
            return self._finish(chain, b"", VIRTIO_BLK_S_IOERR)
        return self._finish(chain, b"", VIRTIO_BLK_S_UNSUPP)

    def _finish(self, chain, data, status):
        """Write `data` into the buffers before the status byte, then the status into the
        last byte of the last writable buffer."""
        written = chain.write_all(self.dma, data) if data else 0
        last = chain.writable[-1] if chain.writable else None
        if last is None or last.length < 1:
            return written
        self.dma_write(last.addr + last.length - 1, bytes([status]))
        return written + 1

    def dma_write(self, gpa, data):
        if not self.dma.write(gpa, data):
            raise VirtqueueError(f"status byte at {gpa:#x} is not guest RAM")
