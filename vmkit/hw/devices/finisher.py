"""The sifive_test finisher: a guest store powers the machine off with a status.

x86 counterpart: QEMU's isa-debug-exit port, or an ACPI S5 power-off.

One register at offset 0 (QEMU 7.2 hw/misc/sifive_test.c, sifive_test_write): the low 16
bits of the stored value select the action, the high 16 bits carry an exit code.

    0x5555               pass: power off, exit status 0
    code << 16 | 0x3333  fail: power off, exit status `code`
    0x7777               reset the machine

A "fail" with code 0 makes QEMU exit with status 0; it is still reported as ("fail", 0).
Other values and other offsets are ignored; reads return 0. QEMU accepts 2- and 4-byte
accesses (sifive_test_ops.valid: 2..4); a byte access is an access fault.
"""

from vmkit.hw.bus import Device

from . import access_error

FINISHER_FAIL = 0x3333
FINISHER_PASS = 0x5555
FINISHER_RESET = 0x7777


class SifiveTest(Device):
    name = "test"
    size = 0x1000

    def __init__(self, on_power_off=None):
        self.on_power_off = on_power_off    # callable(kind: "pass"|"fail"|"reset", code: int)

    def read(self, offset: int, size: int) -> int:
        self._check(offset, size, "read")
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        self._check(offset, size, "write")
        if offset != 0 or self.on_power_off is None:
            return
        status, code = value & 0xFFFF, (value >> 16) & 0xFFFF
        if status == FINISHER_PASS:
            self.on_power_off("pass", 0)
        elif status == FINISHER_FAIL:
            self.on_power_off("fail", code)
        elif status == FINISHER_RESET:
            self.on_power_off("reset", 0)

    def _check(self, offset: int, size: int, what: str) -> None:
        if size not in (2, 4) or offset % size:
            raise access_error(self, offset, size, what)
