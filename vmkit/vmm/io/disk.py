"""Disk images: what a VM's disk is on the host (QEMU: a raw file, or a qcow2 file with a
backing file).

* `RawDisk`: the guest's sectors, byte for byte, in memory or in a file (`qemu-img create -f
  raw`). A read-only raw disk is what a template shares.
* `OverlayDisk`: copy-on-write on a read-only base (qcow2's backing file): a write copies the
  4 KiB cluster it touches into the overlay first, a read takes the overlay's cluster if it has
  one and the base's otherwise. Many VMs share one base; each one's changes stay its own.
  `save(path)` writes the overlay alone, `OverlayDisk.load(path, base)` reads it back.

Sectors are 512 bytes, as virtio-blk and ATA count them. Every request is checked against the
disk's size here, whatever the device model did: a guest's sector number is hostile input.
"""

import contextlib
import os
import struct

SECTOR = 512
CLUSTER = 4096                     # the overlay's unit of copy-on-write (qcow2's default: 64 KiB)
SECTORS_PER_CLUSTER = CLUSTER // SECTOR
MAX_DISK = 1 << 30                 # a guest disk of at most 1 GiB (in memory: far less in use)
OVERLAY_MAGIC = b"VMKITCOW"
OVERLAY_VERSION = 1


class DiskError(Exception):
    """A request the disk cannot serve, or an image file it cannot read."""


@contextlib.contextmanager
def _host_errors():
    """The host's file failing (a full disk, a removed file) is the guest's I/O error, not an
    exception out of the VMM: the device model reports it as a drive would."""
    try:
        yield
    except OSError as error:
        raise DiskError(f"the image file failed: {error.strerror or error}") from None


class Disk:
    """What a device model needs from a disk: size, read, write, flush."""
    readonly = False
    sectors = 0

    def check(self, sector, count):
        if not (isinstance(sector, int) and isinstance(count, int) and sector >= 0
                and count >= 0 and sector + count <= self.sectors):
            raise DiskError(f"sectors {sector}..{sector + count} are outside the disk "
                            f"({self.sectors} sectors)")

    def read(self, sector, count):
        self.check(sector, count)
        with _host_errors():
            return self._read(sector * SECTOR, count * SECTOR)

    def write(self, sector, data):
        if len(data) % SECTOR:
            raise DiskError(f"a write of {len(data)} bytes is not whole sectors")
        self.check(sector, len(data) // SECTOR)
        if self.readonly:
            raise DiskError("the disk is read-only")
        with _host_errors():
            self._write(sector * SECTOR, bytes(data))

    def flush(self):
        with _host_errors():
            self._flush()

    def _flush(self):
        pass

    @property
    def size(self):
        return self.sectors * SECTOR


class RawDisk(Disk):
    def __init__(self, size=None, data=None, path=None, readonly=False):
        """A disk of `size` bytes of zeros, or holding `data`, or the raw image file `path`
        (used in place: writes go to the file; `readonly` opens it read-only)."""
        self.readonly, self.path, self.file = readonly, path, None
        if path is not None:
            if not os.path.isfile(path):
                raise DiskError(f"{path}: not a regular file")
            size = os.path.getsize(path)
            self.file = open(path, "rb" if readonly else "r+b")
            self.image = None
        else:
            self.image = bytearray(data if data is not None else bytes(size or 0))
            size = len(self.image)
        if size % SECTOR or not 0 < size <= MAX_DISK:
            self.close()
            raise DiskError(f"a disk image must be whole 512-byte sectors, at most "
                            f"{MAX_DISK >> 20} MiB; this one is {size} bytes")
        self.sectors = size // SECTOR

    def _read(self, offset, length):
        if self.file is None:
            return bytes(self.image[offset:offset + length])
        self.file.seek(offset)
        return self.file.read(length)

    def _write(self, offset, data):
        if self.file is None:
            self.image[offset:offset + len(data)] = data
        else:
            self.file.seek(offset)
            self.file.write(data)

    def _flush(self):
        if self.file is not None:
            self.file.flush()

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None


class OverlayDisk(Disk):
    def __init__(self, base):
        """A writable copy-on-write view of `base` (any Disk; it is only read)."""
        if base.sectors % SECTORS_PER_CLUSTER:
            raise DiskError("an overlay's base must be whole 4 KiB clusters")
        self.base, self.sectors = base, base.sectors
        self.clusters = {}                 # cluster number -> its 4 KiB, once written

    def _read(self, offset, length):
        out = bytearray()
        while length:
            index, at = divmod(offset, CLUSTER)
            n = min(length, CLUSTER - at)
            cluster = self.clusters.get(index)
            out += (cluster[at:at + n] if cluster is not None
                    else self.base.read((offset // SECTOR), n // SECTOR))
            offset, length = offset + n, length - n
        return bytes(out)

    def _write(self, offset, data):
        done = 0
        while done < len(data):
            index, at = divmod(offset + done, CLUSTER)
            n = min(len(data) - done, CLUSTER - at)
            cluster = self.clusters.get(index)
            if cluster is None:                      # copy on (first) write
                cluster = self.clusters[index] = bytearray(
                    self.base.read(index * SECTORS_PER_CLUSTER, SECTORS_PER_CLUSTER))
            cluster[at:at + n] = data[done:done + n]
            done += n

    @property
    def copied(self):
        """Bytes this overlay holds of its own (what a clone costs beyond its base)."""
        return len(self.clusters) * CLUSTER

    def save(self, path):
        """The overlay's clusters to `path` (magic, version, cluster size, disk sectors,
        count, then each cluster's number and bytes)."""
        with open(path, "wb") as f:
            f.write(OVERLAY_MAGIC + struct.pack("<IIII", OVERLAY_VERSION, CLUSTER, self.sectors,
                                                len(self.clusters)))
            for index in sorted(self.clusters):
                f.write(struct.pack("<I", index) + self.clusters[index])

    @classmethod
    def load(cls, path, base):
        """The overlay saved at `path`, on `base`; DiskError if it is not one, or not of a
        base this size."""
        if not os.path.isfile(path):
            raise DiskError(f"{path}: not a regular file")
        with open(path, "rb") as f:
            data = f.read(MAX_DISK + 64)
        head = len(OVERLAY_MAGIC) + 16
        if len(data) < head or data[:len(OVERLAY_MAGIC)] != OVERLAY_MAGIC:
            raise DiskError(f"{path}: not a vmkit overlay image")
        version, cluster, sectors, count = struct.unpack_from("<IIII", data, len(OVERLAY_MAGIC))
        if version != OVERLAY_VERSION or cluster != CLUSTER:
            raise DiskError(f"{path}: overlay version {version}, cluster {cluster}: "
                            f"this vmkit reads version {OVERLAY_VERSION}, cluster {CLUSTER}")
        overlay = cls(base)
        if sectors != base.sectors:
            raise DiskError(f"{path}: made for a base of {sectors} sectors, not {base.sectors}")
        if len(data) != head + count * (4 + CLUSTER):
            raise DiskError(f"{path}: truncated or overlong ({count} clusters announced)")
        for n in range(count):
            at = head + n * (4 + CLUSTER)
            (index,) = struct.unpack_from("<I", data, at)
            if index >= sectors // SECTORS_PER_CLUSTER or index in overlay.clusters:
                raise DiskError(f"{path}: cluster {index} is outside the disk or repeated")
            overlay.clusters[index] = bytearray(data[at + 4:at + 4 + CLUSTER])
        return overlay
