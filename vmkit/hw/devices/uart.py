"""NS16550A UART: the serial console of the `virt` board (x86: the PC's COM1 port at 0x3F8).

Eight byte-wide registers; which one an offset means depends on LCR.DLAB and on the direction:

    offset  read            write           with LCR.DLAB = 1
      0     RBR receive     THR transmit    DLL divisor latch, low byte
      1     IER interrupt enable            DLM divisor latch, high byte
      2     IIR interrupt identification    FCR FIFO control (write)
      3     LCR line control
      4     MCR modem control (bit 4 = loopback)
      5     LSR line status (read only)
      6     MSR modem status (read only)
      7     SCR scratch

Behaviour follows QEMU 7.2 hw/char/serial.c (the model QEMU's `virt` board uses), which is
the reference the tests compare against; where this file departs from it, a comment says so.
Transmission is instantaneous: a byte written to THR goes to the host `output` callback at
once (as QEMU does with a stdio backend), so LSR.THRE/TEMT read back as 1 right away and the
THRE interrupt is pending again after every THR write (serial.c: serial_xmit sets
thr_ipending). Host input queued with `feed()` moves into RBR / the 16-byte receive FIFO
whenever there is room, like QEMU's character backend with flow control: the host never
overruns the UART; only loopback can.

The interrupt line: the UART calls `self.irq(level)` each time it re-evaluates its
interrupt condition (serial.c: serial_update_irq); the machine points `irq` at
`plic.set_level(UART0_IRQ, ...)`. Only the 8 registers decode; the rest of the 0x100-byte
slot, and accesses that run past offset 7, are access faults as on QEMU.
"""

from collections import deque

from vmkit.hw.bus import Device

from . import access_error

# Register offsets.
RBR_THR_DLL, IER_DLM, IIR_FCR, LCR, MCR, LSR, MSR, SCR = range(8)

IER_RDI, IER_THRI, IER_RLSI, IER_MSI = 0x01, 0x02, 0x04, 0x08

# IIR interrupt identifications, in priority order (serial.c: serial_update_irq).
IIR_NO_INT = 0x01
IIR_RLSI = 0x06          # receiver line status: overrun/parity/framing error or break
IIR_CTI = 0x0C           # character timeout: data in the FIFO below the trigger level
IIR_RDI = 0x04           # received data available
IIR_THRI = 0x02          # transmitter holding register empty
IIR_MSI = 0x00           # modem status change
IIR_FIFO_ENABLED = 0xC0

FCR_FE, FCR_RFR, FCR_XFR = 0x01, 0x02, 0x04
FCR_STICKY = 0xC9        # FIFO enable, DMA mode, trigger level; the reset bits self-clear
TRIGGER_LEVELS = {0x00: 1, 0x40: 4, 0x80: 8, 0xC0: 14}
FIFO_SIZE = 16

LCR_DLAB = 0x80
MCR_LOOP = 0x10

LSR_DR, LSR_OE, LSR_BI, LSR_THRE, LSR_TEMT = 0x01, 0x02, 0x10, 0x20, 0x40
LSR_ERRORS = 0x1E        # OE, PE, FE, BI: the bits that raise the line-status interrupt

MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80
MSR_DELTAS = 0x0F
MSR_TERI = 0x04          # trailing edge of RI: set only when RI goes 1 -> 0


class Uart16550(Device):
    name = "uart0"
    size = 0x100

    def __init__(self, output=None):
        self.output = output                # callable(bytes) or None (discard)
        self.irq = lambda level: None       # set by the machine
        self.host_input = deque()           # bytes the host has typed, not yet received
        self.reset()

    def reset(self):
        """Register values after reset (serial.c: serial_reset)."""
        self.rbr = 0
        self.rx_fifo = deque()
        self.ier = 0
        self.fcr = 0
        self.lcr = 0
        self.mcr = 0x08                     # OUT2 set, as QEMU resets it
        self.lsr = LSR_THRE | LSR_TEMT
        self.msr = MSR_DCD | MSR_DSR | MSR_CTS
        self.scr = 0
        self.divisor = 0x0C                 # 9600 baud from the 1.8432 MHz reference
        self.trigger_level = 1
        self.thr_ipending = False
        self.irq_level = False

    # -- host side ------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Queue bytes typed on the host; they enter the receiver as it has room."""
        self.host_input.extend(bytes(data))
        self._accept_input()

    def set_modem_inputs(self, msr_bits: int) -> None:
        """Drive the CTS/DSR/RI/DCD input pins (MSR bits 4-7); sets the MSR delta bits.

        QEMU does this when its backend is a real serial port (serial.c: serial_update_msl).
        """
        old = self.msr
        self.msr = (self.msr & 0x0F) | (msr_bits & 0xF0)
        if self.msr != old:
            self.msr |= (self.msr ^ old) >> 4
            if (self.msr & MSR_TERI) and not (old & MSR_RI):
                self.msr &= ~MSR_TERI       # RI rose: that is not a trailing edge
            self._update_irq()

    # -- bus side -------------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        # Any width reads the byte register (serial.c: serial_mm_read ignores the size).
        self._check(offset, size, "read")
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR_DLL:
            return self.divisor & 0xFF if dlab else self._read_rbr()
        if offset == IER_DLM:
            return self.divisor >> 8 if dlab else self.ier
        if offset == IIR_FCR:
            return self._read_iir()
        if offset == LCR:
            return self.lcr
        if offset == MCR:
            return self.mcr
        if offset == LSR:
            return self._read_lsr()
        if offset == MSR:
            return self._read_msr()
        return self.scr

    def write(self, offset: int, size: int, value: int) -> None:
        self._check(offset, size, "write")
        value &= 0xFF
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR_DLL:
            if dlab:
                self.divisor = (self.divisor & 0xFF00) | value
            else:
                self._write_thr(value)
        elif offset == IER_DLM:
            if dlab:
                self.divisor = (self.divisor & 0x00FF) | (value << 8)
            else:
                self._write_ier(value)
        elif offset == IIR_FCR:
            self._write_fcr(value)
        elif offset == LCR:
            self.lcr = value
        elif offset == MCR:
            self.mcr = value & 0x1F
            self._accept_input()            # leaving loopback reconnects the host
        elif offset == SCR:
            self.scr = value
        # LSR and MSR are read-only: writes are ignored (serial.c: serial_ioport_write).

    def _check(self, offset: int, size: int, what: str) -> None:
        # QEMU maps only the 8 registers (serial_mm_init: a region of 8 << it_shift bytes,
        # it_shift = 0 on virt), so the rest of the 0x100-byte slot is an access fault.
        if offset + size > 8:
            raise access_error(self, offset, size, what)

    # -- registers ------------------------------------------------------------------------
    def _read_rbr(self) -> int:
        if self.fcr & FCR_FE:
            value = self.rx_fifo.popleft() if self.rx_fifo else 0
            if not self.rx_fifo:
                self.lsr &= ~(LSR_DR | LSR_BI)
        else:
            value = self.rbr
            self.lsr &= ~(LSR_DR | LSR_BI)
        self._update_irq()
        self._accept_input()
        return value

    def _read_iir(self) -> int:
        value = self._interrupt_id() | (IIR_FIFO_ENABLED if self.fcr & FCR_FE else 0)
        if value & 0x0F == IIR_THRI:
            # Reading IIR while it reports THRE acknowledges that interrupt.
            self.thr_ipending = False
            self._update_irq()
        return value

    def _read_lsr(self) -> int:
        value = self.lsr
        if self.lsr & (LSR_BI | LSR_OE):
            self.lsr &= ~(LSR_BI | LSR_OE)  # reading LSR clears the error conditions
            self._update_irq()
        return value

    def _read_msr(self) -> int:
        if self.mcr & MCR_LOOP:
            # Loopback wires the modem outputs to the inputs: OUT2->DCD, OUT1->RI,
            # RTS->CTS, DTR->DSR (serial.c: serial_ioport_read, case 6).
            return ((self.mcr & 0x0C) << 4) | ((self.mcr & 0x02) << 3) | ((self.mcr & 0x01) << 5)
        value = self.msr
        if self.msr & MSR_DELTAS:
            self.msr &= 0xF0                # reading MSR clears the delta bits
            self._update_irq()
        return value

    def _write_thr(self, value: int) -> None:
        self.thr_ipending = False
        self.lsr &= ~(LSR_THRE | LSR_TEMT)
        self._update_irq()
        # The transmitter takes the byte at once: the holding register is empty again.
        self.lsr |= LSR_THRE
        self.thr_ipending = True
        self._update_irq()
        if self.mcr & MCR_LOOP:
            self._receive(value)
        elif self.output is not None:
            self.output(bytes([value]))
        self.lsr |= LSR_TEMT

    def _write_ier(self, value: int) -> None:
        changed = (self.ier ^ value) & 0x0F
        self.ier = value & 0x0F
        if changed & IER_THRI:
            # Enabling ETBEI while THR is empty raises THRE at once (serial.c: "Windows
            # relies on it"). Disabling it forgets the pending THRE.
            self.thr_ipending = bool(self.ier & IER_THRI and self.lsr & LSR_THRE)
        if changed:
            self._update_irq()

    def _write_fcr(self, value: int) -> None:
        if (value ^ self.fcr) & FCR_FE:
            value |= FCR_RFR | FCR_XFR      # switching FIFO mode flushes both FIFOs
        if value & FCR_RFR:
            self.rx_fifo.clear()
            self.lsr &= ~(LSR_DR | LSR_BI)
        if value & FCR_XFR:
            # The transmit FIFO is always empty here (bytes leave at once).
            self.lsr |= LSR_THRE
            self.thr_ipending = True
        self.fcr = value & FCR_STICKY
        self.trigger_level = TRIGGER_LEVELS[value & 0xC0]
        self._update_irq()
        self._accept_input()

    # -- receiver -------------------------------------------------------------------------
    def _receive(self, byte: int) -> None:
        """One byte arrives from the line (serial.c: serial_receive1)."""
        if self.fcr & FCR_FE:
            if len(self.rx_fifo) < FIFO_SIZE:
                self.rx_fifo.append(byte)
            else:
                self.lsr |= LSR_OE          # an overrun does not overwrite the FIFO
        else:
            if self.lsr & LSR_DR:
                self.lsr |= LSR_OE          # the unread byte in RBR is lost
            self.rbr = byte
        self.lsr |= LSR_DR
        self._update_irq()

    def _accept_input(self) -> None:
        """Move queued host bytes into the receiver while it has room (not in loopback)."""
        while self.host_input and not (self.mcr & MCR_LOOP):
            if self.fcr & FCR_FE:
                if len(self.rx_fifo) >= FIFO_SIZE:
                    return
            elif self.lsr & LSR_DR:
                return
            self._receive(self.host_input.popleft())

    # -- interrupt ------------------------------------------------------------------------
    def _interrupt_id(self) -> int:
        """The highest-priority enabled interrupt condition (serial.c: serial_update_irq)."""
        ier, lsr = self.ier, self.lsr
        fifo = self.fcr & FCR_FE
        if ier & IER_RLSI and lsr & LSR_ERRORS:
            return IIR_RLSI
        # Character timeout: QEMU raises it 4 character times (wall-clock) after the last
        # byte when the FIFO holds fewer bytes than the trigger level. vmkit has no line
        # timing, and a FIFO below its trigger level means the host queue is empty (it would
        # have filled it), so the line is idle and the timeout counts as expired at once.
        below_trigger = fifo and len(self.rx_fifo) < self.trigger_level
        if ier & IER_RDI and below_trigger and self.rx_fifo:
            return IIR_CTI
        if ier & IER_RDI and lsr & LSR_DR and not below_trigger:
            return IIR_RDI
        if ier & IER_THRI and self.thr_ipending:
            return IIR_THRI
        if ier & IER_MSI and self.msr & MSR_DELTAS:
            return IIR_MSI
        return IIR_NO_INT

    def _update_irq(self) -> None:
        # Signalled after every change that may move it, even to the same level: QEMU 7.2's
        # PLIC latches a pending bit each time a line is signalled high (see plic.py).
        self.irq_level = self._interrupt_id() != IIR_NO_INT
        self.irq(self.irq_level)
