"""Snapshots: a whole virtual machine saved as a value or a file, and restored (x86/KVM: QEMU's
savevm/loadvm and its migration stream; VMware's .vmsn + .vmem; KVM hands the pieces out
as KVM_GET_REGS / KVM_GET_SREGS / KVM_GET_MSRS, device state and guest memory).

    snap = vm.snapshot()                         # a Snapshot; snap.to_bytes() is the file
    vm.save("tinyos.vmsnap")
    vm2 = VirtualMachine.restore("tinyos.vmsnap")  # a new VM that goes on where vm was
    vm.load_snapshot(snap)                       # back in time, in place

What is saved, everything the guest can observe or that decides what it does next:
* guest RAM;
* the engine's guest state (`Engine.save_state`): the guest CPU's architectural context
  (hw/context.py: registers, pc, privilege, every CSR: the VS CSRs and hvip under hw, the
  software hart under emulate), the timer it reads time from, the vCPU record (trap, pv,
  bt), the shared page's address (pv), the vCPU page and the translation cache (bt: saved,
  not rebuilt, since the guest pc may point into it and a warm cache decides which
  instructions are counted as run direct);
* every guest device (`Device.save_state`, hw/state.py: registers, FIFOs, input not yet
  received; the guest PLIC's priorities, latched sources, enables and output lines), so a
  device added to the VM is covered without a change here; the engine's copy of the
  interrupt lines (hvip, the vCPU record's pending bits) is in its state above;
* the VMM's part: counters, the timer deadline and whether its interrupt was raised, the
  storm watch, the console log and its dropped count, console input not yet read, the SBI's
  call counts, and the stop record of a VM that has stopped.
Not saved: caches (decoded code, compiled blocks, the TLB: flushed on load), the console
callback, the program (its entry point means nothing once the guest runs).

File format (integers little-endian):
    8 bytes  MAGIC b"VMKITSNP"
    4 bytes  format version (VERSION)
    4 bytes  n, the header's length
    n bytes  header, JSON: {"engine", "ram_size", "quirks", "fast", "vmkit" (its version),
             "ram_bytes", "state_bytes", "body_bytes", "sha256" (of the compressed body)}
    the rest body: zlib of (guest RAM, ram_bytes bytes) + (state, JSON, state_bytes bytes)

Loading checks the whole file (magic, version, header, checksum, sizes, while decompressing
never more than declared: a zip bomb stops there) and then the whole state before it keeps
anything: a truncated, corrupted, foreign, newer or inconsistent snapshot gives one
`SnapshotError` and the target VM is as it was. A snapshot restores into a VM of the same
engine and RAM size only: another engine keeps its guest in other places (refused, clearly).
In place, only RAM pages whose content differs are written (`write_guest`, which drops code
compiled from them), so compiled blocks of the pages that did not change stay valid.
"""

import base64
import hashlib
import json
import os
import stat
import struct
import zlib
from dataclasses import dataclass

from vmkit import __version__
from vmkit.hw.system import QUIRKS
from vmkit.hw.state import load_plain_state, plain_state

from .engines import ENGINES
from .exits import ExitReason, VmStop
from .layout import GUEST_RAM, MAX_GUEST_RAM

MAGIC = b"VMKITSNP"
VERSION = 2                # 2: the counters of I/O (dma_bytes, by_device)
PREFIX = struct.Struct("<8sII")
HEADER_LIMIT = 4096
# The state's JSON: the console log (1 MiB, base64) and bt's translation cache (1 MiB, base64,
# and its tables) are the big parts; this bounds what decompression may produce beyond RAM.
STATE_LIMIT = 32 << 20
PAGE = 4096
_HEADER_KEYS = {"engine", "ram_size", "quirks", "fast", "vmkit", "ram_bytes", "state_bytes",
                "body_bytes", "sha256"}
_VM_KEYS = {"counters", "exits", "by_device", "timer_deadline", "timer_raised", "stop", "storm", "console",
            "console_dropped", "console_input", "sbi_calls"}


class SnapshotError(ValueError):
    """A snapshot that cannot be loaded; the VM it was meant for is unchanged."""


@dataclass
class Snapshot:
    engine: str
    ram_size: int
    quirks: tuple
    fast: bool
    ram: bytes
    state: dict

    def to_bytes(self) -> bytes:
        state = json.dumps(self.state, separators=(",", ":")).encode()
        body = zlib.compress(self.ram + state, 6)
        header = json.dumps({"engine": self.engine, "ram_size": self.ram_size,
                             "quirks": list(self.quirks), "fast": self.fast,
                             "vmkit": __version__, "ram_bytes": len(self.ram),
                             "state_bytes": len(state), "body_bytes": len(body),
                             "sha256": hashlib.sha256(body).hexdigest()}).encode()
        return PREFIX.pack(MAGIC, VERSION, len(header)) + header + body

    @classmethod
    def from_bytes(cls, data) -> "Snapshot":
        """Parse and check a snapshot file's bytes; SnapshotError if anything is wrong."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            _bad(f"a snapshot is bytes, not {type(data).__name__}")
        data = bytes(data)
        if len(data) < PREFIX.size:
            _bad("truncated: shorter than its fixed prefix")
        magic, version, length = PREFIX.unpack_from(data)
        if magic != MAGIC:
            _bad(f"not a vmkit snapshot (magic {magic!r}, expected {MAGIC!r})")
        if version != VERSION:
            _bad(f"format version {version} (this vmkit reads version {VERSION}"
                 f"{': a newer vmkit wrote it' if version > VERSION else ''})")
        if length > HEADER_LIMIT or PREFIX.size + length > len(data):
            _bad("truncated or corrupted header")
        header = _header(data[PREFIX.size:PREFIX.size + length])
        body = data[PREFIX.size + length:]
        if len(body) != header["body_bytes"]:
            _bad(f"truncated: body of {len(body)} bytes, {header['body_bytes']} expected")
        if hashlib.sha256(body).hexdigest() != header["sha256"]:
            _bad("corrupted: the body's checksum (sha256) does not match")
        ram_bytes, state_bytes = header["ram_bytes"], header["state_bytes"]
        plain = _inflate(body, ram_bytes + state_bytes)
        try:
            state = json.loads(plain[ram_bytes:])
        except (ValueError, RecursionError) as error:
            _bad(f"the state is not JSON: {error}")
        return cls(header["engine"], header["ram_size"], tuple(header["quirks"]),
                   header["fast"], plain[:ram_bytes], state)

    @classmethod
    def read(cls, path) -> "Snapshot":
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):    # a FIFO would block the read
                raise SnapshotError(f"{path}: not a regular file")
            with open(path, "rb") as f:
                data = f.read(HEADER_LIMIT + PREFIX.size + MAX_GUEST_RAM + STATE_LIMIT)
        except OSError as error:
            raise SnapshotError(f"{path}: {error.strerror}") from None
        try:
            return cls.from_bytes(data)
        except SnapshotError as error:
            raise SnapshotError(f"{path}: {error}") from None


# -- taking and loading ---------------------------------------------------------------------------
def take(vm) -> Snapshot:
    """The whole guest state of `vm` (see the module docstring)."""
    c, stop = vm.counters, vm.stop
    state = {
        "vm": {"counters": plain_state(c),
               "exits": sorted([str(kind), n] for kind, n in c.exits.items()),
               "by_device": sorted([name, n] for name, n in c.by_device.items()),
               "timer_deadline": vm.timer_deadline, "timer_raised": vm.timer_raised,
               "stop": None if stop is None else [stop.reason, stop.code, stop.message],
               "storm": plain_state(vm.storm),
               "console": _b64(vm.console), "console_dropped": vm.console.dropped,
               "console_input": _b64(vm.console_input),
               "sbi_calls": [[list(key) if isinstance(key, tuple) else key, n]
                             for key, n in vm.sbi.calls.items()]},
        "devices": [[base, device.name, device.save_state()]
                    for base, _, device in vm.devices.regions],
        "engine": vm.engine.save_state(),
    }
    return Snapshot(vm.engine.name, vm.ram_size, tuple(sorted(vm.engine.cpu.quirks)),
                    vm.fast, vm.read_guest(GUEST_RAM, vm.ram_size), state)


def coerce(snapshot) -> Snapshot:
    """A Snapshot from a Snapshot or a snapshot file's bytes."""
    return snapshot if isinstance(snapshot, Snapshot) else Snapshot.from_bytes(snapshot)


def load(vm, snapshot) -> None:
    """Make `vm` the snapshot's VM, in place; SnapshotError, and `vm` unchanged, if not."""
    snap = coerce(snapshot)
    if snap.engine != vm.engine.name:
        _bad(f"it was taken under the {snap.engine} engine; this VM runs {vm.engine.name} "
             "(each engine keeps the guest's state in its own places)")
    if snap.ram_size != vm.ram_size or len(snap.ram) != vm.ram_size:
        _bad(f"it holds {len(snap.ram)} bytes of guest RAM; this VM has {vm.ram_size}")
    state = snap.state
    if not isinstance(state, dict) or set(state) != {"vm", "devices", "engine"}:
        _bad("the state must have exactly vm, devices and engine")
    vm_state = _check_vm(vm, state["vm"])
    devices = _check_devices(vm, state["devices"])
    before = vm.engine.save_state(), [device.save_state() for device in devices]
    # RAM first: writing it drops what the engine derived from the old contents (decoded
    # code, bt's translations); then the engine's state, which is the snapshot's own.
    overwritten = _write_pages(vm, snap.ram)
    try:
        vm.engine.load_state(state["engine"])
        for device, (_, _, saved) in zip(devices, state["devices"]):
            device.load_state(saved)
    except (ValueError, TypeError, KeyError) as error:
        _write_pages(vm, overwritten)           # all back as it was: RAM, then the engine's
        vm.engine.load_state(before[0])         # own state of a moment ago (it loads)
        for device, saved in zip(devices, before[1]):
            device.load_state(saved)
        _bad(str(error))
    _load_vm(vm, *vm_state)
    vm.fast = snap.fast


def blank_program():
    """What `VirtualMachine` boots before a snapshot replaces everything: nothing, at the
    start of RAM."""
    return _Blank()


class _Blank:
    entry = GUEST_RAM
    segments = ()


# -- the pieces -----------------------------------------------------------------------------------
def _header(raw):
    try:
        header = json.loads(raw)
    except ValueError:
        _bad("corrupted header (not JSON)")
    if not isinstance(header, dict) or set(header) != _HEADER_KEYS:
        _bad("header fields differ from a vmkit snapshot's")
    if header["engine"] not in ENGINES:
        _bad(f"unknown engine {header['engine']!r}")
    size = header["ram_size"]
    if not _int(size) or size < PAGE or size & (size - 1) or size > MAX_GUEST_RAM:
        _bad(f"guest RAM size {size!r} is not a power of two up to {MAX_GUEST_RAM} bytes")
    if header["ram_bytes"] != size:
        _bad("inconsistent: ram_bytes differs from ram_size")
    if not _int(header["state_bytes"]) or not 0 < header["state_bytes"] <= STATE_LIMIT:
        _bad(f"state size {header['state_bytes']!r} is out of bounds")
    if not _int(header["body_bytes"]) or not isinstance(header["fast"], bool) or \
            not isinstance(header["sha256"], str):
        _bad("header fields have the wrong types")
    if not isinstance(header["quirks"], list) or not all(q in QUIRKS for q in header["quirks"]):
        _bad(f"unknown quirks {header['quirks']!r}")
    return header


def _inflate(body, size):
    """Decompress at most `size` bytes (a zip bomb stops there); exactly `size` expected."""
    inflater = zlib.decompressobj()
    try:
        plain = inflater.decompress(body, size)
    except zlib.error as error:
        _bad(f"corrupted body: {error}")
    if len(plain) != size or inflater.unconsumed_tail or not inflater.eof:
        _bad(f"inconsistent: the body does not decompress to the {size} bytes declared")
    return plain


def _check_vm(vm, saved):
    if not isinstance(saved, dict) or set(saved) != _VM_KEYS:
        _bad("the VMM's part of the state has other fields than expected")
    try:
        exits = {ExitReason(kind): n for kind, n in saved["exits"]}
        by_device = {str(name): n for name, n in saved["by_device"]}
        calls = {tuple(key) if isinstance(key, list) else key: n
                 for key, n in saved["sbi_calls"]}
        console, keyboard = _unb64(saved["console"]), _unb64(saved["console_input"])
    except (TypeError, ValueError) as error:
        _bad(f"malformed exits, SBI calls or console: {error}")
    stop = saved["stop"]
    if stop is not None:
        if not (isinstance(stop, list) and len(stop) == 3 and isinstance(stop[0], str)
                and _int(stop[1]) and isinstance(stop[2], str)):
            _bad(f"malformed stop record {stop!r}")
        stop = VmStop(*stop)
    deadline = saved["timer_deadline"]
    numbers = [*exits.values(), *by_device.values(), *calls.values(), saved["console_dropped"]]
    if not all(_int(n) and n >= 0 for n in numbers) or not (
            deadline is None or _int(deadline)) or not isinstance(saved["timer_raised"], bool) \
            or len(console) > vm.console.limit:
        _bad("malformed counts, timer deadline or console")
    for obj, part in ((vm.counters, "counters"), (vm.storm, "storm")):
        try:   # checked on a copy: nothing of the VM changes yet
            load_plain_state(_copy(obj), saved[part], part)
        except ValueError as error:
            _bad(str(error))
    return saved, (exits, by_device), calls, console, keyboard, stop


def _load_vm(vm, saved, counts, calls, console, keyboard, stop):
    exits, by_device = counts
    load_plain_state(vm.counters, saved["counters"], "counters")
    vm.counters.exits.clear()
    vm.counters.exits.update(exits)
    vm.counters.by_device.clear()
    vm.counters.by_device.update(by_device)
    load_plain_state(vm.storm, saved["storm"], "storm")
    vm.timer_deadline, vm.timer_raised = saved["timer_deadline"], saved["timer_raised"]
    vm.stop, vm.failure = stop, None
    vm.console[:] = console
    vm.console.dropped = saved["console_dropped"]
    vm.console_input[:] = keyboard
    vm.sbi.calls = calls


def _check_devices(vm, saved):
    regions = vm.devices.regions
    if not isinstance(saved, list) or len(saved) != len(regions) or not all(
            isinstance(s, list) and len(s) == 3 and s[:2] == [base, device.name]
            for s, (base, _, device) in zip(saved, regions)):
        _bad("its devices differ from this VM's (" +
             ", ".join(f"{d.name} at {b:#x}" for b, _, d in regions) + ")")
    return [device for _, _, device in regions]


def _write_pages(vm, ram):
    """Make guest RAM `ram` (its bytes, or [(gpa, page)]), writing only the pages that differ:
    code compiled from the others stays valid. Returns [(gpa, page)] of what was there."""
    pages = ram if isinstance(ram, list) else [
        (GUEST_RAM + offset, ram[offset:offset + PAGE]) for offset in range(0, len(ram), PAGE)]
    overwritten = []
    for gpa, page in pages:
        old = vm.read_guest(gpa, PAGE)
        if old != page:
            overwritten.append((gpa, old))
            vm.write_guest(gpa, page)
    return overwritten


def _copy(obj):
    clone = object.__new__(type(obj))
    clone.__dict__.update({k: (v.copy() if hasattr(v, "copy") else v)
                           for k, v in vars(obj).items()})
    return clone


def _int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def _unb64(text):
    return base64.b64decode(text, validate=True)


def _bad(message):
    raise SnapshotError(f"snapshot: {message}")
