"""An emulated network card in the style of the NE2000 (lecture: I/O virtualization by software
emulation; x86: the ISA NE2000, a National Semiconductor DP8390 "NIC" with 16 KiB of its own
buffer memory, that QEMU emulates as `ne2k_isa` / `ne2k_pci`).

The card never touches the guest's memory. Frames live in the card's own buffer memory, and
the driver copies them in and out through a data port ("remote DMA": the DP8390 moves bytes
between its memory and the port, the CPU moves them between the port and RAM). So every 4
bytes of a frame are one register access, an exit under trap/bt/pv/hw.

    offset        the DP8390's registers, one byte each; CR selects the page (PS1:PS0)
    0x00          CR     command: STP 0x01, STA 0x02, TXP 0x04, remote DMA RD2:0 (bits 3-5:
                         1 read, 2 write, 4 abort/complete), page select bits 6-7
    0x01..0x0F    page 0, read:  BNRY 3, TSR 4, ISR 7, CRDA 8-9, RSR 0xC, CNTR0-2 0xD-0xF
                  page 0, write: PSTART 1, PSTOP 2, BNRY 3, TPSR 4, TBCR 5-6, ISR 7 (write 1
                         to clear), RSAR 8-9, RBCR 0xA-0xB, RCR 0xC, TCR 0xD, DCR 0xE, IMR 0xF
                  page 1:        PAR0-5 1-6 (the station address), CURR 7, MAR0-7 8-0xF
    0x10          the NE2000 data port: 1, 2 or 4 bytes per access
    0x1F          the NE2000 reset port: a read resets the card

Card memory: the station-address PROM at 0x0000 (NE2000 layout: each of the 6 MAC bytes
twice, then 0x57 0x57 "word mode" at bytes 28-31), RAM at 0x4000-0x7FFF in 256-byte pages
0x40-0x7F. Receive: the card writes each accepted frame at page CURR of the ring PSTART..PSTOP
behind a 4-byte header (receive status, next page, byte count with the header, low then
high) and advances CURR; the driver reads from BNRY + 1 and moves BNRY behind what it read.
The card never writes into page BNRY: a frame that does not fit is dropped, counted in
CNTR2 (missed packets, cleared when read) and in `rx_dropped`. Transmit: the driver copies the
frame to page TPSR, sets TBCR and writes CR.TXP; the card sends it at once (frames shorter
than 60 bytes are padded with zeros to the Ethernet minimum, the 4-byte FCS is not carried),
sets TSR.PTX and ISR.PTX. ISR bits: PRX 0x01, PTX 0x02, RXE 0x04, TXE 0x08, OVW 0x10,
CNT 0x20, RDC 0x40 (remote DMA complete), RST 0x80; the interrupt line is high while
ISR & IMR has any of bits 0-6.

Accepted frames: addressed to PAR, broadcast when RCR.AB (0x04), multicast when RCR.AM (0x08,
without the MAR hash filter), anything when RCR.PRO (0x10). A received frame shorter than 60
bytes is padded as QEMU's ne2000 pads frames from its host backend; an empty one, or one
longer than 1514 bytes, is dropped and counted.

Left out: the MAR multicast hash, loopback (TCR), page 2 (the write registers read back), the
DP8390's "send packet" remote-DMA command, DCR's byte/word modes (the data port moves as many
bytes as the access is wide), collisions and all timing (a frame is sent when CR.TXP is
written), the RTL8029's PCI identity. A transmit longer than 1514 bytes is refused (ISR.TXE,
TSR.ABT) instead of sent.

The network side: the card hands every frame the guest sends to `backend.transmit(frame)`
(no backend: dropped and counted in `tx_dropped`); the host hands it a frame with
`deliver(frame)`, which returns whether the card took it.
"""

from vmkit.hw.bus import Device
from vmkit.hw.devices import access_error

CR, DATA_PORT, RESET_PORT = 0x00, 0x10, 0x1F
# page 0 register numbers
PSTART, PSTOP, BNRY, TPSR, TBCR0, TBCR1, ISR = 1, 2, 3, 4, 5, 6, 7
RSAR0, RSAR1, RBCR0, RBCR1, RCR, TCR, DCR, IMR = 8, 9, 10, 11, 12, 13, 14, 15
CRDA0, CRDA1, TSR, RSR, CNTR0, CNTR1, CNTR2 = 8, 9, 4, 12, 13, 14, 15
CURR = 7                                                   # page 1
# The other page-0 write registers: offset -> (attribute, shift); the 16-bit ones (TBCR,
# RSAR, RBCR) are written a byte at a time, low byte first.
PAGE0_WRITES = {PSTART: ("pstart", 0), PSTOP: ("pstop", 0), BNRY: ("bnry", 0), TPSR: ("tpsr", 0),
                TBCR0: ("tbcr", 0), TBCR1: ("tbcr", 8), RSAR0: ("rsar", 0), RSAR1: ("rsar", 8),
                RBCR0: ("rbcr", 0), RBCR1: ("rbcr", 8), RCR: ("rcr", 0), TCR: ("tcr", 0),
                DCR: ("dcr", 0)}

CR_STP, CR_STA, CR_TXP = 0x01, 0x02, 0x04
CR_RD_READ, CR_RD_WRITE, CR_RD_ABORT, CR_RD_MASK = 0x08, 0x10, 0x20, 0x38
ISR_PRX, ISR_PTX, ISR_RXE, ISR_TXE, ISR_OVW, ISR_CNT, ISR_RDC, ISR_RST = (1 << n for n in range(8))
TSR_PTX, TSR_ABT = 0x01, 0x08
RSR_PRX, RSR_MPA, RSR_PHY = 0x01, 0x10, 0x20
RCR_AB, RCR_AM, RCR_PRO = 0x04, 0x08, 0x10

MEMORY = 0x8000                     # the card's address space: PROM below, RAM at 0x4000
RAM_START = 0x4000
PAGE = 256
MIN_FRAME, MAX_FRAME = 60, 1514     # Ethernet without the FCS
HEADER = 4


def parse_mac(mac):
    """6 bytes from bytes or "52:54:00:12:34:56"; ValueError otherwise."""
    if isinstance(mac, str):
        parts = mac.split(":")
        try:
            mac = bytes(int(p, 16) for p in parts) if all(len(p) == 2 for p in parts) else b""
        except ValueError:
            mac = b""
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, e.g. '52:54:00:12:34:56', not {mac!r}")
    return bytes(mac)


class Ne2000Nic(Device):
    transport = "emulated"
    name = "ne2k0"
    size = 0x1000

    def __init__(self, mac="52:54:00:12:34:56"):
        self.mac = parse_mac(mac)
        self.backend = None                # the switch port: .transmit(frame)
        self.irq = lambda level: None
        self.memory = bytearray(MEMORY)
        self.tx_frames = self.tx_dropped = 0
        self.rx_frames = self.rx_dropped = 0
        self.reset()

    def plug(self, dma, irq):
        """The VM wires the interrupt line; the card copies through its port, it has no DMA."""
        self.irq = irq

    def reset(self):
        """Power-on or a read of the reset port: stopped, ISR.RST, the PROM refilled."""
        self.cr = CR_STP | CR_RD_ABORT
        self.pstart = self.pstop = self.bnry = self.curr = self.tpsr = 0
        self.tbcr = self.rsar = self.rbcr = 0
        self.rcr = self.tcr = self.dcr = self.imr = 0
        self.isr = ISR_RST
        self.tsr = self.rsr = self.missed = 0
        self.par = [0] * 6
        self.mar = [0] * 8
        prom = bytes(b for byte in self.mac for b in (byte, byte)) + bytes(16) + b"\x57" * 4
        self.memory[:len(prom)] = prom

    # -- bus side ------------------------------------------------------------------------------
    def read(self, offset, size):
        self._check(offset, size, "read")
        if offset == DATA_PORT:
            return self._port_read(size)
        if offset == RESET_PORT:
            self.reset()
            self._update_irq()
            return 0
        if offset == CR:
            return self.cr
        page = self.cr >> 6
        if page == 1:
            return self.curr if offset == CURR else (
                self.par[offset - 1] if offset <= 6 else self.mar[offset - 8])
        if page != 0:
            return 0                                   # pages 2 and 3 are left out
        if offset == CNTR2:
            value, self.missed = min(self.missed, 0xFF), 0
            return value
        return {BNRY: self.bnry, TSR: self.tsr, ISR: self.isr, CRDA0: self.rsar & 0xFF,
                CRDA1: self.rsar >> 8, RSR: self.rsr}.get(offset, 0)

    def write(self, offset, size, value):
        self._check(offset, size, "write")
        if offset == DATA_PORT:
            return self._port_write(size, value)
        if offset == RESET_PORT:
            return                                     # the end of a reset pulse: nothing
        value &= 0xFF
        if offset == CR:
            return self._command(value)
        page = self.cr >> 6
        if page == 1:
            if offset == CURR:
                self.curr = value
            elif offset <= 6:
                self.par[offset - 1] = value
            else:
                self.mar[offset - 8] = value
        elif page == 0:
            self._write_page0(offset, value)

    def _write_page0(self, offset, value):
        if offset == ISR:
            self.isr &= ~(value & 0x7F)                # write 1 to clear; RST stays
            return self._update_irq()
        if offset == IMR:
            self.imr = value & 0x7F
            return self._update_irq()
        name, shift = PAGE0_WRITES[offset]
        old = getattr(self, name)
        setattr(self, name, old & ~(0xFF << shift) | value << shift)

    def _check(self, offset, size, what):
        if offset == DATA_PORT and size in (1, 2, 4):
            return
        if size != 1 or not (offset <= 0x0F or offset == RESET_PORT):
            raise access_error(self, offset, size, what)

    # -- commands ------------------------------------------------------------------------------
    def _command(self, value):
        if value & CR_STP:
            self.isr |= ISR_RST                        # stopped: receives nothing
        elif value & CR_STA:
            self.isr &= ~ISR_RST
        self.cr = value & ~CR_TXP
        if value & (CR_RD_READ | CR_RD_WRITE) and not value & CR_RD_ABORT and self.rbcr == 0:
            self.isr |= ISR_RDC                        # a remote DMA of 0 bytes is done at once
        if value & CR_TXP and not value & CR_STP:
            self._transmit()
        self._update_irq()

    def _transmit(self):
        start, length = self.tpsr * PAGE, self.tbcr
        if length > MAX_FRAME or start + length > MEMORY:
            self.tsr, self.isr = TSR_ABT, self.isr | ISR_TXE
            return
        frame = bytes(self.memory[start:start + length]).ljust(MIN_FRAME, b"\0")
        self.tsr, self.isr = TSR_PTX, self.isr | ISR_PTX
        if self.backend is None:
            self.tx_dropped += 1
            return
        self.tx_frames += 1
        self.backend.transmit(frame)

    # -- remote DMA through the data port ------------------------------------------------------
    def _port_read(self, size):
        value = 0
        for shift, address in enumerate(self._port_addresses(size)):
            value |= self.memory[address] << (8 * shift) if address < MEMORY else 0
        return value

    def _port_write(self, size, value):
        for shift, address in enumerate(self._port_addresses(size)):
            if RAM_START <= address < MEMORY:          # the PROM and the hole are read-only
                self.memory[address] = value >> (8 * shift) & 0xFF

    def _port_addresses(self, size):
        """The card addresses the next `size` bytes of the remote DMA move (fewer once RBCR
        runs out: after that the port reads 0 and writes go nowhere)."""
        addresses = []
        while len(addresses) < size and self.rbcr:
            addresses.append(self.rsar)
            self.rsar = (self.rsar + 1) & 0xFFFF
            if self.rsar == self.pstop * PAGE and self.pstart < self.pstop:
                self.rsar = self.pstart * PAGE         # reading a frame wraps around the ring
            self.rbcr -= 1
            if self.rbcr == 0:                         # the move is complete
                self.isr |= ISR_RDC
                self._update_irq()
        return addresses

    # -- the network side ----------------------------------------------------------------------
    def deliver(self, frame):
        """A frame from the wire; True if the card put it in its receive ring."""
        frame = bytes(frame)
        if not 0 < len(frame) <= MAX_FRAME or self.cr & CR_STP:
            self.rx_dropped += 1
            return False
        if not self._accepts(frame[:6]):
            return False                               # not for this station: ignored
        frame = frame.ljust(MIN_FRAME, b"\0")
        if not self._store(frame):
            self.rx_dropped += 1
            self.missed += 1
            self.rsr = RSR_MPA
            return False
        self.rx_frames += 1
        self.rsr = RSR_PRX | (RSR_PHY if frame[0] & 1 else 0)
        self.isr |= ISR_PRX
        self._update_irq()
        return True

    def _accepts(self, destination):
        if self.rcr & RCR_PRO or destination == bytes(self.par):
            return True
        if destination == b"\xff" * 6:
            return bool(self.rcr & RCR_AB)
        return bool(destination[0] & 1 and self.rcr & RCR_AM)

    def _store(self, frame):
        """Write header + frame at page CURR of the ring; False if the ring is not set up or
        the frame would reach page BNRY."""
        start, stop = self.pstart, self.pstop
        if not (RAM_START // PAGE <= start < stop <= MEMORY // PAGE
                and start <= self.curr < stop and start <= self.bnry < stop):
            return False
        ring = stop - start
        total = HEADER + len(frame)
        pages = -(-total // PAGE)
        room = (self.bnry - self.curr) % ring or ring
        if pages >= room:
            return False
        following = self.curr + pages
        if following >= stop:
            following -= ring
        data = bytes([RSR_PRX | (RSR_PHY if frame[0] & 1 else 0), following,
                      total & 0xFF, total >> 8]) + frame
        at, end = self.curr * PAGE, stop * PAGE
        first = min(len(data), end - at)
        self.memory[at:at + first] = data[:first]
        self.memory[start * PAGE:start * PAGE + len(data) - first] = data[first:]
        self.curr = following
        return True

    # -- the interrupt line --------------------------------------------------------------------
    def _update_irq(self):
        if self.isr & self.imr & 0x7F:
            self.irq(True)
