"""The SBI: the interface between a RISC-V supervisor (a guest kernel) and its firmware.

A kernel asks for services with `ecall`: a7 = extension ID (EID), a6 = function ID (FID),
arguments in a0..a5; the answer comes back as (error, value) in a0/a1. On a real board
OpenSBI answers from M-mode; in vmkit the VMM answers in Python. Under the `hw` engine this is
exactly a hypercall (x86: VMCALL): the ecall from VS-mode exits to the hypervisor.

Implemented: Base, Legacy console putchar/getchar, set_timer and shutdown, TIME, DBCN (debug console),
SRST (shutdown). Everything a guest passes is untrusted: bad arguments give an SBI error code,
never a Python exception and never an access outside the guest's RAM.

Source: RISC-V Supervisor Binary Interface Specification v2.0 (chapters 3-4 base and legacy,
6 TIME, 10 SRST, 12 DBCN); extension IDs from the RISC-V SBI specification.
"""

# Error codes (SBI spec, table 1).
SUCCESS, FAILED, NOT_SUPPORTED, INVALID_PARAM, DENIED, INVALID_ADDRESS = 0, -1, -2, -3, -4, -5

# Extension IDs.
LEGACY_SET_TIMER, LEGACY_PUTCHAR, LEGACY_GETCHAR = 0x00, 0x01, 0x02
LEGACY_SHUTDOWN = 0x08
BASE = 0x10
TIME = 0x54494D45            # "TIME"
DBCN = 0x4442434E            # "DBCN"
SRST = 0x53525354            # "SRST"

SPEC_VERSION = 2 << 24       # SBI v2.0
IMPLEMENTATION_ID = 0x766D6B74   # "vmkt": not a registered ID; experimental, documented here
IMPLEMENTATION_VERSION = 1

# The most bytes one DBCN console_write copies: a page. The spec lets it write fewer bytes than
# asked and return how many it wrote (the guest loops, as console.inc does); without a bound a
# guest could have the VMM copy all of its RAM on every call.
DBCN_MAX_WRITE = 4096

# Distinct (eid, fid) pairs counted one by one in `Sbi.calls` (a real kernel uses about ten).
CALL_KINDS = 64

EXTENSIONS = {LEGACY_SET_TIMER: "legacy set_timer", LEGACY_PUTCHAR: "legacy console_putchar",
              LEGACY_GETCHAR: "legacy console_getchar", LEGACY_SHUTDOWN: "legacy shutdown",
              BASE: "base", TIME: "timer",
              DBCN: "debug console", SRST: "system reset"}


class SbiCall:
    """One call's registers: read a0..a7, then `.answer(error, value)`."""

    def __init__(self, registers):
        self.registers = registers                 # the guest's x[0..31]
        self.eid, self.fid = registers[17], registers[16]
        self.args = registers[10:16]

    def answer(self, error, value=0):
        self.registers[10] = error & 0xFFFFFFFF
        self.registers[11] = value & 0xFFFFFFFF


class Sbi:
    """The firmware side. `vm` provides: console_write(bytes), console_read() -> int | None,
    read_guest(gpa, length) -> bytes | None, set_timer(time), shutdown(code)."""

    def __init__(self, vm):
        self.vm = vm
        self.calls = {}                            # (eid, fid) -> count, for the notebooks

    def handle(self, registers):
        """Serve the ecall whose registers are `registers` (a list, changed in place)."""
        call = SbiCall(registers)
        handler = {BASE: self._base, LEGACY_SET_TIMER: self._legacy_set_timer,
                   LEGACY_PUTCHAR: self._legacy_putchar, LEGACY_GETCHAR: self._legacy_getchar,
                   LEGACY_SHUTDOWN: self._legacy_shutdown,
                   TIME: self._time, DBCN: self._dbcn, SRST: self._srst}.get(call.eid)
        # Counted per (eid, fid); past CALL_KINDS kinds the rest share one key, so a guest
        # trying every ID cannot grow the table.
        key = (call.eid, call.fid)
        if key not in self.calls and len(self.calls) >= CALL_KINDS:
            key = "other"
        self.calls[key] = self.calls.get(key, 0) + 1
        if handler is None:
            call.answer(NOT_SUPPORTED)
        else:
            handler(call)

    # -- extensions -------------------------------------------------------------------------
    def _base(self, call):
        answers = {0: SPEC_VERSION, 1: IMPLEMENTATION_ID, 2: IMPLEMENTATION_VERSION,
                   4: 0, 5: 0, 6: 0}              # mvendorid, marchid, mimpid
        if call.fid == 3:                          # probe_extension
            call.answer(SUCCESS, int(call.args[0] in EXTENSIONS))
        elif call.fid in answers:
            call.answer(SUCCESS, answers[call.fid])
        else:
            call.answer(NOT_SUPPORTED)

    def _legacy_set_timer(self, call):
        # RV32: the 64-bit time is split over a0 (low) and a1 (high). Legacy calls return 0.
        self.vm.set_timer(call.args[0] | call.args[1] << 32)
        call.registers[10] = 0

    def _legacy_putchar(self, call):
        self.vm.console_write(bytes([call.args[0] & 0xFF]))
        call.registers[10] = 0

    def _legacy_getchar(self, call):
        byte = self.vm.console_read()
        call.registers[10] = 0xFFFFFFFF if byte is None else byte

    def _legacy_shutdown(self, call):
        # sbi_shutdown (SBI v2.0, 5.7): powers the machine off and never returns; it has no
        # way to say "failure", so the exit status is 0.
        self.vm.shutdown(code=0, reboot=False)

    def _time(self, call):
        if call.fid != 0:
            return call.answer(NOT_SUPPORTED)
        self.vm.set_timer(call.args[0] | call.args[1] << 32)
        call.answer(SUCCESS)

    def _dbcn(self, call):
        count, low, high = call.args[0], call.args[1], call.args[2]
        if call.fid == 2:                          # console_write_byte
            self.vm.console_write(bytes([count & 0xFF]))
            return call.answer(SUCCESS)
        if call.fid not in (0, 1):
            return call.answer(NOT_SUPPORTED)
        if high:                                   # no guest RAM above 4 GiB
            return call.answer(INVALID_PARAM)
        if call.fid == 0:                          # console_write(num_bytes, base_lo, base_hi)
            data = self.vm.read_guest(low, min(count, DBCN_MAX_WRITE))
            if data is None:
                return call.answer(INVALID_PARAM)
            self.vm.console_write(data)
            return call.answer(SUCCESS, len(data))
        # console_read(num_bytes, base_lo, base_hi): what is there, possibly nothing.
        data = bytearray()
        while len(data) < count:
            byte = self.vm.console_read()
            if byte is None:
                break
            data.append(byte)
        if not self.vm.write_guest(low, bytes(data)):
            return call.answer(INVALID_PARAM)
        call.answer(SUCCESS, len(data))

    def _srst(self, call):
        reset_type, reason = call.args[0], call.args[1]
        if call.fid != 0 or reset_type > 2 or reason > 1:
            return call.answer(INVALID_PARAM if call.fid == 0 else NOT_SUPPORTED)
        # type 0 shutdown, 1 cold / 2 warm reboot (treated as a stop); reason 1 = failure.
        self.vm.shutdown(code=reason, reboot=reset_type != 0)
        call.answer(SUCCESS)
