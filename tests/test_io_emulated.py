"""The emulated disk (vmkit/vmm/io/ata.py, ATA PIO style) and its driver (vmkit/guest/ata.inc):
every register access is device-model work, an exit under trap/bt/pv/hw.

Expected counts are worked out from the driver's code in each docstring.
"""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmkit import lab
from vmkit.guest import build
from vmkit.hw.bus import BusError
from vmkit.vmm.engines import ENGINES, engine_class
from vmkit.vmm.io import ata
from vmkit.vmm.io.ata import AtaDisk
from vmkit.vmm.io.disk import SECTOR, RawDisk
from vmkit.vmm.vm import VirtualMachine

from conftest import no_pyodide
from test_virtio import pattern

ENGINE_NAMES = sorted(ENGINES)
SECTORS = 16


def ata_accesses(sectors):
    """ata.inc's register accesses for disk.s: init 2 (DEVICE CONTROL, ALTERNATE STATUS); a
    command 6 (count, 3 LBA bytes, DEVICE, COMMAND); per sector written: ALTERNATE STATUS,
    128 data words, the interrupt's STATUS read = 130; per sector read: the interrupt's STATUS
    read and 128 data words = 129; the flush: its command and its interrupt's STATUS = 7."""
    return 2 + (6 + 130 * sectors) + (6 + 129 * sectors) + 7


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_guest_writes_and_reads_back_through_the_emulated_disk(engine):
    """Bit-identical data under every engine; one interrupt per sector each way plus the
    flush's (33 for 16 sectors); each interrupt a claim and a completion at the PLIC after its
    3 set-up stores; and under the engines that trap device accesses, each access an exit."""
    disk = RawDisk(size=64 * SECTOR)
    program = build("disk", iterations=SECTORS, pv=engine_class(engine).needs_pv_build,
                    disk="emulated", console_sbi=True)
    vm = VirtualMachine(program, engine=engine, io=[AtaDisk(disk)])
    stop = vm.run(20_000_000)
    assert (stop.reason, stop.code) == ("shutdown", 0), (stop, bytes(vm.console))
    assert bytes(vm.console).startswith(b"disk: 16 sectors written and read back")
    assert disk.read(0, SECTORS) == pattern(SECTORS)
    interrupts = 2 * SECTORS + 1
    assert vm.counters.interrupts_injected == interrupts
    assert vm.counters.by_device == {"ata0": ata_accesses(SECTORS), "plic": 3 + 2 * interrupts}
    if engine_class(engine).deprivileged or engine_class(engine).has_vm_exits:
        assert vm.counters.exits["mmio"] == ata_accesses(SECTORS) + 3 + 2 * interrupts


def drive(sectors=8, readonly=False):
    disk = RawDisk(data=bytes(range(256)) * (sectors * 2), readonly=readonly)
    device = AtaDisk(disk)
    raised = []
    device.plug(None, raised.append)
    return device, disk, raised


def command(device, code, lba=0, count=1, lba_mode=True):
    for offset, value in [(ata.SECTOR_COUNT, count), (ata.LBA_LOW, lba & 0xFF),
                          (ata.LBA_MID, lba >> 8 & 0xFF), (ata.LBA_HIGH, lba >> 16 & 0xFF),
                          (ata.DEVICE, (0x40 if lba_mode else 0) | lba >> 24 & 0xF),
                          (ata.COMMAND, code)]:
        device.write(offset, 1, value)


def test_read_sectors_moves_each_sector_through_the_data_register():
    """READ SECTORS of 2: DRQ and an interrupt per sector; 128 reads of 4 bytes give the
    sector; after the last word DRQ drops."""
    device, disk, raised = drive()
    command(device, ata.READ_SECTORS, lba=3, count=2)
    data = b""
    for _ in range(2):
        assert device.read(ata.STATUS, 1) == ata.DRDY | ata.DRQ
        data += b"".join(device.read(ata.DATA, 4).to_bytes(4, "little") for _ in range(128))
    assert data == disk.read(3, 2) and len(raised) == 2
    assert device.read(ata.STATUS, 1) == ata.DRDY and device.read(ata.DATA, 4) == 0


def test_write_sectors_and_flush():
    """WRITE SECTORS: DRQ at once without an interrupt, then one interrupt per sector written."""
    device, disk, raised = drive()
    command(device, ata.WRITE_SECTORS, lba=1)
    assert device.read(ata.ALT_STATUS, 1) & ata.DRQ and raised == []
    for i in range(128):
        device.write(ata.DATA, 4, 0x01020304)
    assert disk.read(1, 1) == bytes([4, 3, 2, 1]) * 128 and len(raised) == 1
    command(device, ata.FLUSH_CACHE)
    assert device.read(ata.STATUS, 1) == ata.DRDY and len(raised) == 2


def test_errors_are_reported_as_a_drive_reports_them():
    """Past the end: ERR with IDNF; CHS addressing (not kept): IDNF; an unknown command: ABRT;
    a write to a read-only disk: ABRT. Each still interrupts, as a drive ends a command."""
    device, _, raised = drive(sectors=8)
    for args, error in [((ata.READ_SECTORS, 7, 2), ata.IDNF), ((0x99,), ata.ABRT),
                        ((ata.READ_SECTORS, 0, 1, False), ata.IDNF),
                        ((ata.READ_SECTORS, 0, 0), ata.IDNF)]:       # count 0 = 256 sectors
        command(device, *args)
        assert device.read(ata.STATUS, 1) == ata.DRDY | ata.ERR
        assert device.read(ata.ERROR, 1) == error
    assert len(raised) == 4
    device, disk, _ = drive(readonly=True)
    command(device, ata.WRITE_SECTORS)
    for _ in range(128):
        device.write(ata.DATA, 4, 0xFFFFFFFF)
    assert device.read(ata.ERROR, 1) == ata.ABRT and disk.read(0, 1) == bytes(range(256)) * 2


def test_identify_gives_the_capacity_and_the_model():
    device, _, _ = drive(sectors=8)
    command(device, ata.IDENTIFY_DEVICE)
    words = b"".join(device.read(ata.DATA, 4).to_bytes(4, "little") for _ in range(128))
    assert int.from_bytes(words[120:124], "little") == 8          # words 60-61
    model = b"".join(words[54 + 2 * i:56 + 2 * i][::-1] for i in range(20))
    assert model.rstrip() == ata.MODEL


def test_wrong_widths_are_access_faults():
    device, _, _ = drive()
    for offset, size in [(ata.DATA, 2), (ata.DATA, 1), (ata.STATUS, 4), (ata.SECTOR_COUNT, 2),
                         (9, 1)]:
        with pytest.raises(BusError):
            device.read(offset, size)
        with pytest.raises(BusError):
            device.write(offset, size, 0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 9), st.sampled_from([1, 2, 4]),
                          st.integers(0, 0xFFFFFFFF)), max_size=300))
def test_random_register_traffic_never_raises_and_keeps_the_disk_size(accesses):
    """Whatever a guest writes and reads: no exception but the access fault of a wrong width,
    the disk keeps its size, and a snapshot of the device's state loads back."""
    device, disk, _ = drive()
    for is_write, offset, size, value in accesses:
        try:
            if is_write:
                device.write(offset, size, value & ((1 << 8 * size) - 1))
            else:
                device.read(offset, size)
        except BusError:
            pass
    assert disk.sectors == 8 and len(disk.image) == 8 * SECTOR
    saved = device.save_state()
    again, _, _ = drive()
    again.load_state(saved)
    assert again.save_state() == saved
    with pytest.raises(ValueError):
        again.load_state({**saved, "buffer": "zz"})


# -- the three techniques compared (lab.compare_io) and the command line -----------------------------

def test_emulated_io_exits_far_more_than_virtio_per_kib():
    """Under every engine with a VMM in the path, the emulated disk's exits per KiB moved are
    its register accesses (about 130 per 512-byte sector: 260 per KiB) and virtio's are its
    doorbells and interrupt handling for a batch of 8 (well under 10 per KiB): emulated >
    virtio > 0. Interrupts per request: the emulated disk one per sector and the flush (33 of
    33); virtio one per batch (2 + 2 + 1 = 5 of 33). Without a VMM (native, emulate) nothing
    exits."""
    rows = {(r["technique"], r["engine"]): r for r in lab.compare_io(sectors=SECTORS)}
    for engine in ENGINE_NAMES:
        emulated, virtio = rows["emulated", engine], rows["virtio", engine]
        assert emulated["interrupts_per_request"] == 1.0
        assert virtio["interrupts_per_request"] == 5 / 33
        if engine in ("native", "emulate"):
            assert emulated["exits"] == virtio["exits"] == 0
        else:
            assert emulated["exits_per_kib"] > 250 > 10 > virtio["exits_per_kib"] > 0
        assert emulated["cycles_per_request"] > virtio["cycles_per_request"]
        assert emulated["result"].console == virtio["result"].console


@no_pyodide
def test_the_command_line_runs_the_disk_workload(tmp_path):
    """`vmkit run --guest disk --io emulated --disk FILE` writes the pattern into FILE (used in
    place); --io on a workload without a disk is a one-line error."""
    image = tmp_path / "disk.img"
    image.write_bytes(bytes(64 * SECTOR))
    done = subprocess.run([sys.executable, "-m", "vmkit", "run", "--guest", "disk:trap", "--io",
                           "emulated", "--disk", str(image), "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    row, = json.loads(done.stdout)
    assert row["counters"]["device_accesses_by_device"]["ata0"] == ata_accesses(SECTORS)
    assert image.read_bytes()[:SECTORS * SECTOR] == pattern(SECTORS)
    done = subprocess.run([sys.executable, "-m", "vmkit", "run", "--guest", "syscall", "--io",
                           "virtio"], capture_output=True, text=True)
    assert done.returncode == 2 and "syscall has none" in done.stderr
    assert "Traceback" not in done.stderr
