"""Passthrough (vmkit/vmm/io/passthrough.py) and the IOMMU (vmkit/hw/iommu.py): a physical
virtio-blk assigned to a VM; the DMA attack of a guest on another VM's memory, which succeeds
without an IOMMU and is stopped, and recorded, with one.

The attack guest (vmkit/guest/dmaattack.s) asks its disk to read sector 0 into TARGET, a
host-physical address inside the victim's RAM; the victim never runs, so any change in its RAM
is the device's doing.
"""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmkit import lab
from vmkit.guest import build
from vmkit.hw.iommu import (READ_GUEST_PAGE_FAULT, WRITE_GUEST_PAGE_FAULT, BusDma, FaultRecord,
                            Iommu)
from vmkit.vmm.engines import ENGINES, engine_class
from vmkit.vmm.host import Host
from vmkit.vmm.io.disk import SECTOR, RawDisk
from vmkit.vmm.io.passthrough import (ATTACK_PAYLOAD, PCIE_MMIO, assign, dma_attack,
                                      tell_bus_offset)
from vmkit.vmm.io.virtio_blk import VirtioBlk

from test_virtio import SECTORS, pattern

ENGINE_NAMES = sorted(ENGINES)
# native owns the bare metal (its RAM is host RAM at 0x8000_0000): it cannot share a host with a
# victim VM, so the attack runs under the other five.
ATTACKERS = [name for name in ENGINE_NAMES
             if not getattr(engine_class(name), "bare_metal", False)]
PAYLOAD = ATTACK_PAYLOAD


def attack(engine, iommu_enabled):
    """passthrough.dma_attack, and a check that every host frame not the attacker's is as it
    was when the attacker started."""
    found = {}
    result = dma_attack(engine, iommu_enabled, before_run=lambda host: found.update(
        outside=not_owned_by(host, "attacker")))
    host = result["host"]
    return (host, result["victim"], result["attacker"], result["iommu"], result["target"],
            result["stop"], result["victim_before"],
            lambda: not_owned_by(host, "attacker") == found["outside"])


def not_owned_by(host, name):
    """The bytes of every host frame that is not VM `name`'s (its RAM, its page tables, its
    VMM structures are its own and change as it runs; nothing else may)."""
    frames, ram, base = host.frames, host.machine.bus.ram, host.machine.bus.ram_base
    return b"".join(bytes(ram[pa - base:pa - base + 4096])
                    for pa in range(frames.base, frames.base + frames.total * 4096, 4096)
                    if frames.owner_of(pa) != name)


@pytest.mark.parametrize("engine", ATTACKERS)
def test_without_an_iommu_the_guest_writes_another_vms_memory(engine):
    """The device writes the 512 bytes of sector 0 at TARGET (victim gpa 0x8000_1000): exactly
    those bytes of the victim's RAM change, to the attacker's payload; the guest reports it."""
    _, victim, attacker, iommu, target, stop, before, _ = attack(engine, False)
    assert stop.reason == "shutdown", (stop, bytes(attacker.console))
    assert bytes(attacker.console) == f"dma: the disk wrote sector 0 at {target:#010x}\n".encode()
    after = victim.read_guest(0x8000_0000, victim.ram_size)
    assert after[0x1000:0x1200] == PAYLOAD
    assert after[:0x1000] + after[0x1200:] == before[:0x1000] + before[0x1200:]
    assert iommu.fault_queue == []


@pytest.mark.parametrize("engine", ATTACKERS)
def test_with_the_iommu_the_dma_faults_and_nothing_else_changes(engine):
    """TARGET as an IOVA is a guest-physical address above the attacker's 4 MiB of RAM: its
    second-stage table does not map it, so the device's write of the sector faults (cause 23,
    one record with the IOVA); the device gives up on the ring (DEVICE_NEEDS_RESET), the
    guest says so, and every byte of host RAM outside the attacker's is as before."""
    _, victim, attacker, iommu, target, stop, before, unchanged = attack(engine, True)
    assert target >= 0x8000_0000 + attacker.ram_size        # else it would be its own RAM
    assert stop.reason == "shutdown", (stop, bytes(attacker.console))
    assert bytes(attacker.console) == b"dma: the disk refused (DEVICE_NEEDS_RESET)\n"
    assert iommu.fault_queue == [FaultRecord(WRITE_GUEST_PAGE_FAULT, 7, target, True)]
    assert victim.read_guest(0x8000_0000, victim.ram_size) == before
    assert unchanged()


def passthrough_disk(engine, iommu_enabled=True):
    host = Host(64 << 20)
    disk = RawDisk(size=64 * SECTOR)
    blk = VirtioBlk(disk)
    program = build("disk", iterations=SECTORS, pv=engine_class(engine).needs_pv_build,
                    disk="virtio", console_sbi=True)
    vm = host.create_vm(program, engine=engine, io=[blk])
    iommu = Iommu(host.machine.bus, enabled=iommu_enabled)
    if not iommu_enabled:
        tell_bus_offset(vm, program)
    assign(vm, blk, iommu, device_id=3)
    return vm, disk, iommu, vm.run(20_000_000)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_an_assigned_disk_reads_back_bit_identical(engine):
    """The unmodified virtio driver on an assigned virtio-blk: data as with the VMM's device;
    the device's DMA is the hardware's (hardware_dma_bytes), the VMM copied nothing; the IOMMU
    walked its table once per page touched and hit its IOTLB otherwise."""
    vm, disk, iommu, stop = passthrough_disk(engine)
    assert (stop.reason, stop.code) == ("shutdown", 0), (stop, bytes(vm.console))
    assert disk.read(0, SECTORS) == pattern(SECTORS)
    assert vm.counters.dma_bytes == 0 and vm.counters.hardware_dma_bytes > SECTORS * 2 * SECTOR
    assert iommu.fault_queue == [] and 0 < iommu.walks < iommu.translations


def test_without_an_iommu_the_driver_needs_the_host_address_of_its_ram():
    """Without translation the device takes guest-physical addresses as host-physical ones:
    told where its RAM is (tell_bus_offset), the driver works; the same guest not told would
    make the device read its rings from the wrong memory (not checked here: it would read
    whatever lies there)."""
    vm, disk, iommu, stop = passthrough_disk("hw", iommu_enabled=False)
    assert stop.reason == "shutdown" and disk.read(0, SECTORS) == pattern(SECTORS)
    assert iommu.translations == 0


def test_under_hw_the_doorbell_costs_no_exit():
    """hw maps the assigned device's registers into the G-stage: the 43 virtio-blk accesses of
    the driver (test_virtio.driver_accesses: 28 + 5 doorbells + 2 per interrupt) reach the device
    on the bus, and only the PLIC's 13 (3 + 2 per interrupt) exit. Under trap the VMM forwards
    them all: 56 exits, as with the VMM's own virtio-blk. So per request emulated > virtio >=
    passthrough, strictly under hw."""
    rows = {(r["technique"], r["engine"]): r
            for r in lab.compare_io(engines=("trap", "hw"), sectors=SECTORS)}
    assert rows["passthrough", "hw"]["exits"] == 13
    assert rows["passthrough", "hw"]["result"].counters["direct_device_accesses"] == 43
    assert rows["passthrough", "trap"]["exits"] == rows["virtio", "trap"]["exits"]
    for engine in ("trap", "hw"):
        assert (rows["emulated", engine]["exits_per_kib"] > rows["virtio", engine]["exits_per_kib"]
                >= rows["passthrough", engine]["exits_per_kib"])
    assert rows["virtio", "hw"]["exits_per_kib"] > rows["passthrough", "hw"]["exits_per_kib"]


def test_interrupts_go_only_to_the_owner():
    """Interrupt remapping: the device's interrupt reaches the PLIC input the VMM named; a
    device with no entry interrupts nobody and is recorded."""
    host = Host(64 << 20)
    iommu = Iommu(host.machine.bus)
    raised = []
    iommu.remap_interrupt(1, raised.append)
    iommu.interrupt(1)
    iommu.interrupt(2)
    assert raised == [True] and [f.cause for f in iommu.fault_queue] == [261]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, (1 << 34) - 1),
                          st.integers(0, 3 * 4096)), min_size=1, max_size=20))
def test_random_dma_through_the_iommu_never_leaves_the_vm(accesses):
    """Any address, any length, read or write, from an assigned device behind the IOMMU: every
    host frame not the VM's is bit-identical afterwards, an access is whole or refused, and a
    refused one left a fault record (the queue holds at most 64)."""
    host = Host(64 << 20)
    blk = VirtioBlk(RawDisk(size=8 * SECTOR))
    vm = host.create_vm(build("callret", iterations=1), engine="trap", io=[blk])
    iommu = Iommu(host.machine.bus)
    assign(vm, blk, iommu, device_id=5)
    outside = not_owned_by(host, vm.name)
    for write, address, length in accesses:
        # (an empty access moves nothing and succeeds wherever it points)
        allowed = length == 0 or 0x8000_0000 <= address <= address + length <= \
            0x8000_0000 + vm.ram_size
        faults = len(iommu.fault_queue)
        if write:
            done = blk.dma.write(address, b"\xee" * length)
        else:
            done = blk.dma.read(address, length) is not None
        assert done == allowed
        if not done and length:
            assert len(iommu.fault_queue) == min(64, faults + 1) or iommu.faults_dropped
    assert not_owned_by(host, vm.name) == outside


def test_the_device_window_and_bad_assignments():
    host = Host(64 << 20)
    blk = VirtioBlk(RawDisk(size=SECTOR))
    vm = host.create_vm(build("callret", iterations=1), engine="hw", io=[blk])
    with pytest.raises(ValueError, match="device_id"):
        assign(vm, blk, Iommu(host.machine.bus), device_id=300)
    with pytest.raises(ValueError, match="not one of"):
        assign(vm, VirtioBlk(RawDisk(size=SECTOR)), Iommu(host.machine.bus), device_id=1)
    assign(vm, blk, Iommu(host.machine.bus), device_id=2)
    device, offset = host.machine.bus.device_at(PCIE_MMIO + 0x2000)
    assert device is not None and device.device is blk and offset == 0
    assert struct.unpack("<I", struct.pack("<I", blk.read(0, 4)))[0] == 0x74726976
    dma = BusDma(host.machine.bus, Iommu(host.machine.bus, enabled=False), 0)
    assert dma.read(0x1000, 4) is None and dma.write(-1, b"x") is False
    assert READ_GUEST_PAGE_FAULT == 21


def test_sr_iov_gives_each_vm_its_own_virtual_function():
    """Two VMs (hw and trap) on one host, each assigned one VF of one physical function: each
    writes the disk workload's pattern to its own VF's disk; the host reads, through the PF's
    registers, 33 requests served by each VF (16 sectors each way and the flush). The IOMMU
    holds one context per VF; the hw VM's doorbells reach its VF with no exit."""
    from vmkit.vmm.io.passthrough import PhysicalFunction
    host = Host(64 << 20)
    pf = PhysicalFunction([RawDisk(size=64 * SECTOR), RawDisk(size=64 * SECTOR)])
    iommu = Iommu(host.machine.bus)
    base = pf.plug_host(host)
    vms = []
    for engine, vf, vf_id in zip(("hw", "trap"), pf.vfs, pf.vf_ids):
        program = build("disk", iterations=SECTORS, disk="virtio", console_sbi=True)
        vm = host.create_vm(program, engine=engine, name=f"tenant-{engine}", io=[vf])
        assign(vm, vf, iommu, vf_id)
        vms.append(vm)
    for vm in vms:
        assert vm.run(20_000_000).reason == "shutdown", bytes(vm.console)
    assert [vf.disk.read(0, SECTORS) for vf in pf.vfs] == [pattern(SECTORS)] * 2
    assert [host.machine.bus.load(base + 4 * i, 4) for i in range(2)] == [33, 33]
    assert set(iommu.device_directory) == set(pf.vf_ids) == {0x11, 0x12}
    assert vms[0].counters.by_device["vf0"] == vms[0].counters.direct_device_accesses == 43
    assert iommu.fault_queue == []
