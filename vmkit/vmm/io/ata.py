"""An emulated disk controller in the style of ATA PIO (software emulation, the lecture's first
way: the guest's unmodified driver talks to registers, and every access is a trap into the VMM;
x86: the IDE controller of the PC at I/O ports 0x1F0-0x1F7 and 0x3F6, emulated by QEMU's
hw/ide).

The task-file registers, one byte each, at the offsets of the command block; the data register
is read and written 4 bytes at a time (ATA's is 16 bits wide: half the accesses, same idea):

    offset  read                  write
      0     DATA (4 bytes)        DATA (4 bytes)
      1     ERROR                 FEATURES (ignored)
      2     SECTOR COUNT          SECTOR COUNT (0 means 256)
      3-5   LBA low, mid, high    LBA bits 0-7, 8-15, 16-23
      6     DEVICE                DEVICE: bit 6 LBA mode, bits 0-3 LBA bits 24-27 (LBA28)
      7     STATUS (acknowledges  COMMAND
            the interrupt)
      8     ALTERNATE STATUS      DEVICE CONTROL: bit 1 nIEN (no interrupts), bit 2 SRST
            (no acknowledgement)

Commands (ATA/ATAPI-8 ACS): READ SECTORS 0x20 (PIO data-in: for each sector DRQ and an
interrupt, then the driver reads 128 words), WRITE SECTORS 0x30 (PIO data-out: DRQ at once, the
driver writes 128 words, then the interrupt; DRQ again for the next sector), FLUSH CACHE 0xE7,
IDENTIFY DEVICE 0xEC (512 bytes: the model name, the LBA28 capacity in words 60-61).
A request past the disk's end or an unknown command ends with ERR and ERROR = IDNF or ABRT, as
a drive reports it; a data access without DRQ reads 0 and writes nothing. Left out: CHS
addressing, LBA48, multiple mode, DMA (bus-master IDE), the second drive, ATAPI, timing (the
drive is never busy: BSY is never seen set).
"""

import struct

from vmkit.hw.bus import Device
from vmkit.hw.devices import access_error

from .disk import SECTOR, DiskError

DATA, ERROR, SECTOR_COUNT, LBA_LOW, LBA_MID, LBA_HIGH, DEVICE, STATUS, ALT_STATUS = range(9)
COMMAND, FEATURES, DEVICE_CONTROL = STATUS, ERROR, ALT_STATUS
# STATUS bits
BSY, DRDY, DF, DRQ, ERR = 0x80, 0x40, 0x20, 0x08, 0x01
# ERROR bits
IDNF, ABRT = 0x10, 0x04
# DEVICE CONTROL bits
NIEN, SRST = 0x02, 0x04
READ_SECTORS, WRITE_SECTORS, FLUSH_CACHE, IDENTIFY_DEVICE = 0x20, 0x30, 0xE7, 0xEC
MODEL = b"vmkit emulated ATA disk"


class AtaDisk(Device):
    transport = "emulated"
    size = 0x1000

    def __init__(self, disk, name="ata0"):
        self.disk, self.name = disk, name
        self.irq = lambda level: None
        self.commands = 0                        # commands the driver gave, counted
        self.reset()

    def plug(self, dma, irq):
        self.irq = irq                           # a PIO device needs no DMA

    def reset(self):
        self.error = self.count = self.lba = self.device = self.control = self.sector = 0
        self.status = DRDY
        self.buffer = b""                        # the sector being transferred
        self.position = 0                        # next byte of it
        self.command = 0                         # the command in progress, or 0
        self.remaining = 0                       # sectors still to transfer after this one
        self.pending = False                     # INTRQ raised, not yet acknowledged

    # -- registers ------------------------------------------------------------------------------
    def read(self, offset, size):
        if offset == DATA and size == 4:
            return self._read_data()
        if size != 1 or not ERROR <= offset <= ALT_STATUS:    # DATA is 4 bytes wide only
            raise access_error(self, offset, size, "read")
        if offset == STATUS:
            self.pending = False                 # reading STATUS acknowledges INTRQ
            return self.status
        if offset == ALT_STATUS:
            return self.status
        if offset == ERROR:
            return self.error
        if offset == SECTOR_COUNT:
            return self.count
        if offset == DEVICE:
            return self.device
        return self.lba >> (8 * (offset - LBA_LOW)) & 0xFF

    def write(self, offset, size, value):
        if offset == DATA and size == 4:
            return self._write_data(value)
        if size != 1 or not FEATURES <= offset <= DEVICE_CONTROL:
            raise access_error(self, offset, size, "write")
        if offset == COMMAND:
            self._command(value)
        elif offset == DEVICE_CONTROL:
            if value & SRST and not self.control & SRST:
                self.reset()
            self.control = value
        elif offset == SECTOR_COUNT:
            self.count = value
        elif offset == DEVICE:
            self.device = value
        elif LBA_LOW <= offset <= LBA_HIGH:
            shift = 8 * (offset - LBA_LOW)
            self.lba = self.lba & ~(0xFF << shift) | value << shift

    # -- commands -------------------------------------------------------------------------------
    def _command(self, command):
        self.commands += 1
        self.error, self.status, self.command = 0, DRDY, command
        sectors = self.count or 256
        start = self.lba | (self.device & 0x0F) << 24
        if command in (READ_SECTORS, WRITE_SECTORS):
            if not self.device & 0x40 or start + sectors > self.disk.sectors:
                return self._fail(IDNF)          # CHS, or past the end: "ID not found"
            self.sector, self.remaining = start, sectors
            if command == READ_SECTORS:
                self._next_read()
            else:
                self._expect_sector()            # data-out: DRQ at once, no interrupt
        elif command == FLUSH_CACHE:
            self.disk.flush()
            self._done()
        elif command == IDENTIFY_DEVICE:
            self.buffer, self.position, self.remaining = self._identify(), 0, 0
            self.status = DRDY | DRQ
            self._interrupt()
        else:
            self._fail(ABRT)

    def _next_read(self):
        try:
            self.buffer = self.disk.read(self.sector, 1)
        except DiskError:
            return self._fail(IDNF)
        self.position, self.status = 0, DRDY | DRQ
        self.sector, self.remaining = self.sector + 1, self.remaining - 1
        self._interrupt()

    def _expect_sector(self):
        self.buffer, self.position, self.status = b"", 0, DRDY | DRQ

    def _read_data(self):
        if not self.status & DRQ:
            return 0
        word = int.from_bytes(self.buffer[self.position:self.position + 4], "little")
        self.position += 4
        if self.position >= len(self.buffer):
            if self.command == READ_SECTORS and self.remaining:
                self._next_read()
            else:
                self.status, self.command = DRDY, 0
        return word

    def _write_data(self, value):
        if not self.status & DRQ or self.command != WRITE_SECTORS:
            return
        self.buffer += struct.pack("<I", value & 0xFFFFFFFF)
        if len(self.buffer) < SECTOR:
            return
        try:
            self.disk.write(self.sector, self.buffer)
        except DiskError:
            return self._fail(ABRT)              # e.g. a read-only disk
        self.sector, self.remaining = self.sector + 1, self.remaining - 1
        if self.remaining:
            self._expect_sector()
            self._interrupt()
        else:
            self._done()

    def _done(self):
        self.status, self.command, self.buffer = DRDY, 0, b""
        self._interrupt()

    def _fail(self, error):
        self.status, self.error, self.command, self.buffer = DRDY | ERR, error, 0, b""
        self._interrupt()

    def _interrupt(self):
        if not self.control & NIEN:
            self.pending = True
            self.irq(True)

    def _identify(self):
        words = [0] * 256
        model = MODEL.ljust(40)
        for i in range(20):                      # words 27-46: two characters each, swapped
            words[27 + i] = model[2 * i] << 8 | model[2 * i + 1]
        words[49] = 1 << 9                       # LBA supported
        sectors = min(self.disk.sectors, (1 << 28) - 1)
        words[60], words[61] = sectors & 0xFFFF, sectors >> 16
        return struct.pack("<256H", *words)

    def save_state(self):
        state = {k: v for k, v in vars(self).items() if isinstance(v, (int, bool))}
        state["buffer"] = self.buffer.hex()
        return state

    def load_state(self, state):
        fields = {k for k, v in vars(self).items() if isinstance(v, (int, bool))} | {"buffer"}
        if not isinstance(state, dict) or set(state) != fields or not all(
                isinstance(state[k], int) for k in fields - {"buffer"}):
            raise ValueError(f"device {self.name}: the saved state does not fit")
        try:
            buffer = bytes.fromhex(state["buffer"])
        except (TypeError, ValueError):
            raise ValueError(f"device {self.name}: the saved state does not fit") from None
        for key in fields - {"buffer"}:
            setattr(self, key, state[key])
        self.buffer = buffer
