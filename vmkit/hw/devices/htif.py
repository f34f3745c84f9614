"""HTIF: Spike's host-target interface, two 64-bit words in guest RAM named by ELF symbols.

x86 counterpart: none in hardware; it is a simulator hypercall channel, like a debug port.

The guest stores a command to `tohost`; the host acts on it, clears `tohost` to 0 and may
answer in `fromhost`. A command is one 64-bit word (Spike fesvr/htif.cc, fesvr/device.cc):

    bits 63..56 device, 55..48 command, 47..0 payload

What vmkit implements:

    device 0 (syscall proxy), cmd 0, payload odd:  exit; code = payload >> 1
        1 -> ("pass", 0); code << 1 | 1 -> ("fail", code)     (riscv-tests' RVTEST_PASS/FAIL)
    device 1 (console), cmd 1: putchar of the payload's low byte;
        answers (1 << 56) | (1 << 48), as TinyEMU does (Spike sends no answer; guests that
        poll fromhost accept both)
    device 1 (console), cmd 0: getchar request; answered with
        (1 << 56) | 0x100 | byte when host input is queued (Spike bcd_t::tick); with no input
        the request waits and `poll()` answers it after `feed()` brings a byte

Not implemented (ignored, no answer): device 0 with an even payload (Spike's proxied
syscalls through a memory block), and every other device/command.

The machine calls `tohost_written(value)` with the 64-bit tohost value after a guest store
completes it (on RV32, riscv-tests store the low word and then the high word, so the store
to tohost+4 is the one that completes the command), writes 0 back to tohost, and stores a
non-None result to fromhost.
"""

from collections import deque

DEVICE_SYSCALL, DEVICE_CONSOLE = 0, 1
CONSOLE_GETCHAR, CONSOLE_PUTCHAR = 0, 1
PAYLOAD_MASK = (1 << 48) - 1


def command(device: int, cmd: int, payload: int) -> int:
    """The 64-bit tohost/fromhost word for (device, cmd, payload)."""
    return (device & 0xFF) << 56 | (cmd & 0xFF) << 48 | (payload & PAYLOAD_MASK)


class Htif:
    def __init__(self, on_power_off=None, output=None):
        self.on_power_off = on_power_off    # callable(kind: "pass"|"fail", code: int)
        self.output = output                # callable(bytes) or None (discard)
        self.host_input = deque()
        self.read_waiting = False

    def feed(self, data: bytes) -> None:
        """Queue bytes typed on the host for console getchar requests."""
        self.host_input.extend(bytes(data))

    def tohost_written(self, value: int):
        """Act on a command the guest wrote to tohost; return the fromhost answer or None."""
        value &= (1 << 64) - 1
        device, cmd, payload = value >> 56, (value >> 48) & 0xFF, value & PAYLOAD_MASK
        if device == DEVICE_SYSCALL and cmd == 0 and payload & 1:
            code = payload >> 1
            if self.on_power_off is not None:
                self.on_power_off("fail" if code else "pass", code)
            return None
        if device == DEVICE_CONSOLE and cmd == CONSOLE_PUTCHAR:
            if self.output is not None:
                self.output(bytes([payload & 0xFF]))
            return command(DEVICE_CONSOLE, CONSOLE_PUTCHAR, 0)
        if device == DEVICE_CONSOLE and cmd == CONSOLE_GETCHAR:
            self.read_waiting = True
            return self.poll()
        return None

    def poll(self):
        """The answer to a waiting getchar request once input is there, else None."""
        if not (self.read_waiting and self.host_input):
            return None
        self.read_waiting = False
        return command(DEVICE_CONSOLE, CONSOLE_GETCHAR, 0x100 | self.host_input.popleft())
