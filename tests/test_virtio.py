"""virtio (vmkit/vmm/io/virtqueue.py, virtio_mmio.py, virtio_blk.py) and disk images (disk.py):
the teaching kernel's virtio-blk driver (vmkit/guest/virtio.inc, virtio_blk.inc) under every
engine, and the device driven from Python with well-formed and hostile queues.

Expected values are reasoned from the virtio 1.2 specification and from the driver's code; the
reasoning is in each test's docstring.
"""

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmkit.guest import build
from vmkit.vmm.engines import ENGINES, engine_class
from vmkit.vmm.host import Host
from vmkit.vmm.io import virtio_mmio as R
from vmkit.vmm.io.board import EMULATED_BASE, VIRTIO_BASE, place
from vmkit.vmm.io.disk import SECTOR, DiskError, OverlayDisk, RawDisk
from vmkit.vmm.io.virtio_blk import VirtioBlk
from vmkit.vmm.vm import VirtualMachine

ENGINE_NAMES = sorted(ENGINES)
SECTORS = 16


def pattern(sectors):
    """disk.s's data, computed here on its own: word i is (i * 0x9E3779B1) ^ 0x5A5A5A5A."""
    return b"".join(struct.pack("<I", (i * 0x9E3779B1 & 0xFFFFFFFF) ^ 0x5A5A5A5A)
                    for i in range(sectors * SECTOR // 4))


def disk_vm(engine, disk, sectors=SECTORS, batch=None, **options):
    program = build("disk", iterations=sectors, pv=engine_class(engine).needs_pv_build,
                    disk="virtio", batch=batch, console_sbi=True)
    return VirtualMachine(program, engine=engine, io=[VirtioBlk(disk)], **options)


# -- the guest's driver under every engine ---------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_guest_writes_and_reads_back_bit_identical(engine):
    """The kernel writes 16 sectors, flushes, reads them into another buffer and compares; the
    disk image must then hold exactly the pattern (computed here independently) and nothing
    after it, and the checksum printed is the sum of the pattern's words mod 2^32."""
    disk = RawDisk(size=64 * SECTOR)
    vm = disk_vm(engine, disk)
    stop = vm.run(20_000_000)
    data = pattern(SECTORS)
    checksum = sum(struct.unpack(f"<{len(data) // 4}I", data)) & 0xFFFFFFFF
    assert (stop.reason, stop.code) == ("shutdown", 0), (stop, bytes(vm.console))
    assert bytes(vm.console) == (f"disk: {SECTORS} sectors written and read back, checksum "
                                 f"{checksum:#010x}\n").encode()
    assert disk.read(0, SECTORS) == data
    assert disk.read(SECTORS, 64 - SECTORS) == bytes((64 - SECTORS) * SECTOR)


def driver_accesses(batches, interrupts):
    """The virtio-blk register accesses virtio.inc makes: its initialization is 28 (magic,
    version and device ID read: 3; status reset, ACKNOWLEDGE, DRIVER: 3; features 0..31 select,
    read, select, write: 4; features 32..63 the same: 4; FEATURES_OK written and read back: 2;
    QueueSel, QueueReady read, QueueNumMax read, QueueNum: 4; the three 64-bit addresses: 6;
    QueueReady: 1; DRIVER_OK: 1), then one QueueNotify per batch and, per interrupt, one
    InterruptStatus read and one InterruptACK write."""
    return 28 + batches + 2 * interrupts


@pytest.mark.parametrize("batch", [1, 4, 8])
@pytest.mark.parametrize("engine", ["trap", "hw"])
def test_one_doorbell_and_one_interrupt_per_batch(engine, batch):
    """16 sectors written in batches of `batch` requests, then read the same way, plus one
    flush: ceil(16/batch) * 2 + 1 doorbells (EVENT_IDX: the device asks for each, since it takes
    every request at the doorbell), and as many interrupts (the driver sets used_event to the
    batch's last request). Each of the driver's register accesses is one MMIO exit here."""
    vm = disk_vm(engine, RawDisk(size=64 * SECTOR), batch=batch)
    assert vm.run(20_000_000).reason == "shutdown"
    batches = -(-SECTORS // batch) * 2 + 1
    blk = vm.io[0][2]
    assert blk.notifications == batches and blk.requests == 2 * SECTORS + 1
    assert vm.counters.by_device["virtio-blk"] == driver_accesses(batches, batches)
    # The PLIC: 3 accesses to set it up, then a claim and a complete per interrupt.
    assert vm.counters.by_device["plic"] == 3 + 2 * batches
    assert vm.counters.exits["mmio"] == driver_accesses(batches, batches) + 3 + 2 * batches
    assert vm.counters.interrupts_injected == batches


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_every_engine_counts_the_same_device_work(engine):
    """How a register access is reached differs (an exit, the software CPU, the bus), but the
    device's work is the same: the same accesses per device, the same DMA bytes (per request
    the 16-byte header, 512 data bytes and 1 status byte; a flush 16 + 1; and per request the
    ring reads and writes around them)."""
    vm = disk_vm(engine, RawDisk(size=64 * SECTOR))
    assert vm.run(20_000_000).reason == "shutdown"
    reference = disk_vm("hw", RawDisk(size=64 * SECTOR))
    reference.run(20_000_000)
    assert vm.counters.by_device == reference.counters.by_device
    assert vm.counters.dma_bytes == reference.counters.dma_bytes
    assert vm.counters.dma_bytes > 2 * SECTORS * (16 + 512 + 1)


def test_overlays_share_a_base_and_keep_their_writes():
    """Two VMs on one read-only base through copy-on-write overlays: each sees its own data, the
    base is untouched, each overlay holds exactly the clusters written (16 sectors = 8 KiB =
    2 clusters of 4 KiB)."""
    base = RawDisk(data=bytes(range(256)) * (64 * SECTOR // 256), readonly=True)
    before = base.read(0, 64)
    first, second = OverlayDisk(base), OverlayDisk(base)
    host = Host(64 << 20)
    for overlay in (first, second):
        vm = host.create_vm(build("disk", iterations=SECTORS, disk="virtio", console_sbi=True),
                            engine="trap", io=[VirtioBlk(overlay)])
        assert vm.run(20_000_000).reason == "shutdown"
    assert base.read(0, 64) == before
    for overlay in (first, second):
        assert overlay.read(0, SECTORS) == pattern(SECTORS)
        assert overlay.read(SECTORS, 64 - SECTORS) == before[SECTORS * SECTOR:]
        assert overlay.copied == SECTORS * SECTOR


def test_overlay_file_round_trip_and_bad_files(tmp_path):
    base = RawDisk(size=32 * SECTOR)
    overlay = OverlayDisk(base)
    overlay.write(9, b"\xab" * SECTOR)
    overlay.save(tmp_path / "o.cow")
    again = OverlayDisk.load(tmp_path / "o.cow", base)
    assert again.read(0, 32) == overlay.read(0, 32) and again.copied == 4096
    data = (tmp_path / "o.cow").read_bytes()
    for bad, message in [(data[:-1], "truncated"), (b"NOTACOW!" + data[8:], "not a vmkit"),
                         (data[:12] + struct.pack("<I", 4096 * 2) + data[16:], "version")]:
        (tmp_path / "bad.cow").write_bytes(bad)
        with pytest.raises(DiskError, match=message):
            OverlayDisk.load(tmp_path / "bad.cow", base)
    with pytest.raises(DiskError, match="made for a base"):
        OverlayDisk.load(tmp_path / "o.cow", RawDisk(size=64 * SECTOR))
    with pytest.raises(DiskError, match="not a regular file"):
        OverlayDisk.load(tmp_path, base)


def test_raw_disk_refuses_what_it_cannot_hold(tmp_path):
    disk = RawDisk(size=8 * SECTOR)
    for sector, count in [(8, 1), (7, 2), (-1, 1)]:
        with pytest.raises(DiskError, match="outside the disk"):
            disk.read(sector, count)
    with pytest.raises(DiskError, match="whole sectors"):
        disk.write(0, b"x")
    with pytest.raises(DiskError, match="read-only"):
        RawDisk(size=SECTOR, readonly=True).write(0, bytes(SECTOR))
    with pytest.raises(DiskError, match="whole 512-byte sectors"):
        RawDisk(size=100)
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(4 * SECTOR))
    on_file = RawDisk(path=path)
    on_file.write(1, b"\x5a" * SECTOR)
    on_file.close()
    assert path.read_bytes()[SECTOR:2 * SECTOR] == b"\x5a" * SECTOR


def test_the_board_places_devices_as_qemu_virt_does():
    """virtio slots from 0x1000_1000, 0x1000 apart, PLIC sources 1, 2, ... (QEMU 7.2 virt.c);
    emulated devices from 0x1001_0000, sources 12 and up."""
    class Emulated:
        transport = "emulated"
    disks = [VirtioBlk(RawDisk(size=SECTOR)) for _ in range(3)]
    placed = place([disks[0], Emulated(), disks[1], disks[2]])
    assert [(base, irq) for base, irq, _ in placed] == [
        (VIRTIO_BASE, 1), (EMULATED_BASE, 12), (VIRTIO_BASE + 0x1000, 2),
        (VIRTIO_BASE + 0x2000, 3)]
    assert (VIRTIO_BASE, EMULATED_BASE) == (0x1000_1000, 0x1001_0000)
    with pytest.raises(ValueError, match="not an I/O device"):
        place([object()])
    with pytest.raises(ValueError, match="too many virtio devices"):
        place([VirtioBlk(RawDisk(size=SECTOR)) for _ in range(9)])


# -- the device driven from Python ------------------------------------------------------------------

QUEUE = 0x8010_0000                 # the queue's areas, in guest RAM, away from the program
DESC, AVAIL, USED = QUEUE, QUEUE + 0x400, QUEUE + 0x800
BUFFERS = QUEUE + 0x1000


class PythonDriver:
    """A driver written from the specification (3.1.1 and 2.7), with no guest code, so that the
    device's side can be put through cases the teaching kernel never makes."""

    def __init__(self, vm, device, size=8, features=(R.VIRTIO_F_VERSION_1,)):
        self.vm, self.device, self.size, self.avail_idx = vm, device, size, 0
        w = self.write
        w(R.STATUS, 0)
        w(R.STATUS, R.ACKNOWLEDGE | R.DRIVER)
        for word in (0, 1):
            w(R.DRIVER_FEATURES_SEL, word)
            w(R.DRIVER_FEATURES, sum(1 << (b - 32 * word) for b in features
                                     if 32 * word <= b < 32 * word + 32))
        w(R.STATUS, R.ACKNOWLEDGE | R.DRIVER | R.FEATURES_OK)
        self.features_ok = bool(self.read(R.STATUS) & R.FEATURES_OK)
        w(R.QUEUE_SEL, 0)
        w(R.QUEUE_NUM, size)
        w(R.QUEUE_DESC_LOW, DESC)
        w(R.QUEUE_DRIVER_LOW, AVAIL)
        w(R.QUEUE_DEVICE_LOW, USED)
        w(R.QUEUE_READY, 1)
        w(R.STATUS, R.ACKNOWLEDGE | R.DRIVER | R.FEATURES_OK | R.DRIVER_OK)

    def read(self, offset):
        return self.device.read(offset, 4)

    def write(self, offset, value):
        self.device.write(offset, 4, value)

    def descriptors(self, rows):
        """rows: [(addr, len, flags, next)] from descriptor 0."""
        self.vm.write_guest(DESC, b"".join(struct.pack("<QIHH", *row) for row in rows))

    def offer(self, *heads, notify=True):
        for head in heads:
            self.vm.write_guest(AVAIL + 4 + 2 * (self.avail_idx % self.size),
                                struct.pack("<H", head))
            self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.vm.write_guest(AVAIL + 2, struct.pack("<H", self.avail_idx))
        if notify:
            self.write(R.QUEUE_NOTIFY, 0)

    def used(self):
        idx, = struct.unpack("<H", self.vm.read_guest(USED + 2, 2))
        return idx, [struct.unpack("<II", self.vm.read_guest(USED + 4 + 8 * i, 8))
                     for i in range(min(idx, self.size))]


def blk_setup(sectors=8, engine="trap", **options):
    disk = RawDisk(size=sectors * SECTOR)
    device = VirtioBlk(disk)
    vm = VirtualMachine(build("callret", iterations=1), engine=engine, io=[device])
    return vm, device, disk, PythonDriver(vm, device, **options)


def request(driver, kind, sector, data_len=SECTOR, write_data=b""):
    """Descriptors 0..2 of one request at BUFFERS: header, data, status."""
    header, data, status = BUFFERS, BUFFERS + 0x100, BUFFERS + 0x80
    driver.vm.write_guest(header, struct.pack("<IIQ", kind, 0, sector))
    driver.vm.write_guest(data, write_data or bytes(data_len))
    data_flags = 1 if kind == 1 else 1 | 2
    driver.descriptors([(header, 16, 1, 1), (data, data_len, data_flags, 2), (status, 1, 2, 0)])
    return data, status


def test_a_well_formed_request_round_trips():
    """OUT then IN of sector 3: the disk holds the bytes; the used ring says the device wrote
    1 byte (the status) for the OUT and 513 (sector + status) for the IN; status OK; the
    interrupt status has USED_BUFFER and the PLIC source 1 is pending."""
    vm, device, disk, driver = blk_setup()
    assert driver.features_ok and not device.broken
    request(driver, 1, 3, write_data=b"\x42" * SECTOR)
    driver.offer(0)
    assert disk.read(3, 1) == b"\x42" * SECTOR
    data, status = request(driver, 0, 3)
    driver.offer(0)
    assert vm.read_guest(data, SECTOR) == b"\x42" * SECTOR
    assert vm.read_guest(status, 1) == b"\0"
    assert driver.used() == (2, [(0, 1), (0, SECTOR + 1)])
    assert driver.read(R.INTERRUPT_STATUS) == R.USED_BUFFER and vm.plic.pending[1]
    driver.write(R.INTERRUPT_ACK, R.USED_BUFFER)
    assert driver.read(R.INTERRUPT_STATUS) == 0


def test_a_request_the_disk_cannot_serve_fails_with_ioerr():
    """Sector 8 of an 8-sector disk: the request completes with status IOERR (1), the device
    stays usable (a bad request is not a broken ring)."""
    vm, device, disk, driver = blk_setup()
    _, status = request(driver, 0, 8)
    driver.offer(0)
    assert vm.read_guest(status, 1) == b"\x01" and not device.status & R.DEVICE_NEEDS_RESET
    _, status = request(driver, 7, 0)                         # an unknown request type
    driver.offer(0)
    assert vm.read_guest(status, 1) == b"\x02"                # UNSUPP


def test_features_without_version_1_are_refused():
    """3.1.1 step 5: a modern (version 2) device keeps FEATURES_OK only if VERSION_1 was
    accepted; and a feature it does not offer is refused too."""
    assert not blk_setup(features=())[3].features_ok
    assert not blk_setup(features=(R.VIRTIO_F_VERSION_1, 40))[3].features_ok
    assert blk_setup(features=(R.VIRTIO_F_VERSION_1, R.VIRTIO_F_EVENT_IDX))[3].features_ok


def test_config_space_holds_the_capacity():
    """5.2.4: capacity (u64, in 512-byte sectors) at offset 0 of the configuration space; any
    width reads its bytes little-endian; a register read of the wrong width reads 0 (QEMU)."""
    _, device, _, _ = blk_setup(sectors=0x1234 // 2 * 2)
    assert device.read(R.CONFIG, 4) == 0x1234 and device.read(R.CONFIG, 1) == 0x34
    assert device.read(R.CONFIG + 1, 1) == 0x12 and device.read(R.CONFIG + 4, 4) == 0
    assert device.read(R.MAGIC_VALUE, 2) == 0 and device.read(R.MAGIC_VALUE, 4) == R.MAGIC


HOSTILE = {
    "a chain that loops": [(BUFFERS, 16, 1, 1), (BUFFERS, 16, 1, 0)],
    "next beyond the table": [(BUFFERS, 16, 1, 200)],
    "a buffer outside guest RAM": [(0x1000, 16, 1, 1), (BUFFERS, 1, 2, 0)],
    "a buffer whose end wraps": [(0xFFFF_FFFF_FFFF_FFF0, 0x100, 1, 1), (BUFFERS, 1, 2, 0)],
    "a readable after a writable": [(BUFFERS, 16, 2 | 1, 1), (BUFFERS, 16, 1, 0)],
    "an indirect table not negotiated": [(BUFFERS, 32, 4, 0)],
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_broken_ring_needs_a_reset(case):
    """2.1.2: the device sets DEVICE_NEEDS_RESET, raises a configuration-change interrupt, and
    serves nothing more until the driver resets it; nothing outside the VM was read or
    written (its DMA window refuses it); after a reset it works again."""
    vm, device, disk, driver = blk_setup()
    vm.write_guest(BUFFERS, struct.pack("<IIQ", 1, 0, 0))
    driver.descriptors(HOSTILE[case])
    driver.offer(0)
    assert device.status & R.DEVICE_NEEDS_RESET and device.broken
    assert driver.read(R.INTERRUPT_STATUS) & R.CONFIG_CHANGE
    assert driver.used()[0] == 0 and disk.read(0, 8) == bytes(8 * SECTOR)
    PythonDriver(vm, device)                                    # reset and set up again
    assert not device.status & R.DEVICE_NEEDS_RESET
    request(driver, 1, 0, write_data=b"\x11" * SECTOR)
    driver.avail_idx = 0
    driver.offer(0)
    assert disk.read(0, 1) == b"\x11" * SECTOR


def test_avail_idx_running_ahead_needs_a_reset():
    vm, device, _, driver = blk_setup()
    vm.write_guest(AVAIL + 2, struct.pack("<H", 9))             # 9 new entries in a queue of 8
    driver.write(R.QUEUE_NOTIFY, 0)
    assert device.status & R.DEVICE_NEEDS_RESET and "ahead" in device.broken


def test_a_bad_queue_size_needs_a_reset():
    """2.7: a split queue's size is a power of 2; 6 is refused when the queue is made ready."""
    vm, device, _, _ = blk_setup()
    driver = PythonDriver(vm, device, size=6)
    assert device.status & R.DEVICE_NEEDS_RESET and not device.read(R.QUEUE_READY, 4)
    assert driver.features_ok


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=st.binary(min_size=16 * 8, max_size=16 * 8),
       avail=st.binary(min_size=4 + 2 * 8, max_size=4 + 2 * 8),
       registers=st.lists(st.tuples(st.integers(0, 0x1FF), st.sampled_from([1, 2, 4]),
                                    st.integers(0, 0xFFFFFFFF)), max_size=12))
def test_hostile_queues_never_raise_nor_touch_other_memory(table, avail, registers):
    """Random descriptor tables, available rings and register writes into a virtio-blk of one
    VM on a host with another VM: the device never raises, and the other VM's RAM, and the
    host's memory outside the first VM's RAM, stay bit-identical."""
    host = Host(64 << 20)
    other = host.create_vm(build("callret", iterations=1), engine="trap")
    disk = RawDisk(size=8 * SECTOR)
    device = VirtioBlk(disk)
    vm = host.create_vm(build("callret", iterations=1), engine="trap", io=[device])
    ram = host.machine.bus.ram
    mine = vm.engine.memory.region("ram").frames[0] - host.machine.bus.ram_base
    outside = bytes(ram[:mine]) + bytes(ram[mine + vm.ram_size:])
    theirs = other.read_guest(0x8000_0000, other.ram_size)
    driver = PythonDriver(vm, device)
    vm.write_guest(DESC, table)
    vm.write_guest(AVAIL, avail)
    driver.write(R.QUEUE_NOTIFY, 0)
    for offset, size, value in registers:
        device.write(offset, size, value)
        device.read(offset, size)
    driver.write(R.QUEUE_NOTIFY, 0)
    assert other.read_guest(0x8000_0000, other.ram_size) == theirs
    assert bytes(ram[:mine]) + bytes(ram[mine + vm.ram_size:]) == outside


def test_device_state_survives_a_snapshot():
    """A snapshot keeps the device's registers and its queue positions: a VM restored from it
    goes on with the same requests."""
    vm, device, disk, driver = blk_setup()
    request(driver, 1, 2, write_data=b"\x77" * SECTOR)
    driver.offer(0)
    saved = device.save_state()
    again = VirtioBlk(disk)
    again.plug(device.dma, lambda level: None)
    again.load_state(saved)
    assert again.save_state() == saved
    with pytest.raises(ValueError, match="does not fit"):
        again.load_state({"registers": [1, 2]})
