"""virtio-net (vmkit/vmm/io/virtio_net.py), the virtual switch (vmkit/vmm/io/switch.py) and the
teaching kernel's driver (vmkit/guest/virtio_net.inc, ping.s, echo.s).

Expected frames are built here byte by byte from the Ethernet layout (destination, source,
EtherType 0x88B5, payload, zero padding to the 60-byte minimum) and the guests' source, not
taken from a run. Every guest test runs under every engine (pv runs the PV build)."""

import functools
import hashlib
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from vmkit.guest import build
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.host import Host
from vmkit.vmm.io import virtio_mmio as R
from vmkit.vmm.io.switch import MirroredFrame, VirtualSwitch
from vmkit.vmm.io.virtio_net import HEADER, MAX_FRAME, VirtioNet, parse_mac
from vmkit.vmm.layout import GUEST_RAM
from vmkit.vmm.vm import VirtualMachine

from test_hostile_props import outside_guest

ENGINE_NAMES = list(ENGINES)
PING_MAC, ECHO_MAC = bytes.fromhex("525400000001"), bytes.fromhex("525400000002")
BROADCAST = b"\xff" * 6
ETHERTYPE = b"\x88\xb5"                 # ping.s / echo.s: NET_ETHERTYPE, network byte order


def frame(destination, source, payload):
    """An Ethernet frame as the guests build it: padded with zeros to 60 bytes."""
    return (destination + source + ETHERTYPE + payload).ljust(60, b"\0")


def program(name, engine, iterations):
    return build(name, iterations=iterations, pv=ENGINES[engine].needs_pv_build)


class Recorder:
    """A network backend that keeps what the guest sent."""

    def __init__(self):
        self.frames = []

    def transmit(self, data):
        self.frames.append(data)


# -- one guest, a Python network ----------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_guest_frames_reach_the_backend_and_delivered_frames_reach_the_guest(engine):
    """ping.s sends "ping 0" to the broadcast address (it knows no peer yet), then waits in
    wfi. A frame delivered from Python wakes it (irq.py: the line rises between runs); it
    prints the payload and sends "ping 1" to the answer's source MAC (ping.s learns it)."""
    backend = Recorder()
    nic = VirtioNet(PING_MAC, backend=backend)
    vm = VirtualMachine(program("ping", engine, 2), engine=engine, io=[nic])
    assert vm.run(200_000).reason == "wfi"
    assert backend.frames == [frame(BROADCAST, PING_MAC, b"ping 0")]
    peer = bytes.fromhex("0200000000aa")
    assert nic.deliver(frame(PING_MAC, peer, b"pong 0"))
    assert vm.run(200_000).reason == "wfi"
    assert backend.frames[1] == frame(peer, PING_MAC, b"ping 1")
    assert nic.deliver(frame(PING_MAC, peer, b"pong 1"))
    stop = vm.run(200_000)
    assert (stop.reason, stop.code) == ("shutdown", 0)
    assert bytes(vm.console) == b"ping: got pong 0\nping: got pong 1\n"
    assert nic.statistics() == {"tx_frames": 2, "tx_dropped": 0, "tx_errors": 0,
                                "rx_frames": 2, "rx_dropped": 0}
    assert vm.counters.interrupts_injected == 2       # one per frame delivered


def test_mac_is_read_from_config_space_and_without_backend_frames_are_dropped():
    """The guest copies its source MAC from config bytes 0..5: a NIC with another MAC gives
    frames with that source. With no backend the frame is counted as dropped."""
    mac = parse_mac("02:11:22:33:44:55")
    nic = VirtioNet(mac)
    vm = VirtualMachine(program("ping", "trap", 1), engine="trap", io=[nic])
    assert vm.run(200_000).reason == "wfi"
    assert nic.statistics()["tx_dropped"] == 1 and nic.tx_frames == 0
    assert nic.read(R.CONFIG, 1) == 0x02 and nic.read(R.DEVICE_ID, 4) == 1


def test_a_frame_before_the_driver_is_ready_is_dropped():
    nic = VirtioNet()
    assert not nic.deliver(frame(BROADCAST, ECHO_MAC, b"early"))
    assert nic.rx_dropped == 1


@pytest.mark.parametrize("bad", ["52:54:00:12:34", "zz:54:00:12:34:56", b"12345", 7])
def test_bad_mac_is_a_one_line_error(bad):
    with pytest.raises(ValueError, match="a MAC address is 6 bytes"):
        VirtioNet(bad)


# -- two guests through the switch ----------------------------------------------------------------
PAIRS = [(engine, engine) for engine in ENGINE_NAMES if engine != "native"] + [
    ("native", "hw"), ("hw", "trap"), ("emulate", "pv"), ("pv", "bt")]        # (echo, ping)


def ping_pong(echo_engine, ping_engine, count=3, slice=2000):
    """echo first: its driver must be up before the first ping (a NIC not up drops frames);
    and a native VM must be the first on its host."""
    host = Host(ram_size=64 << 20, slice=slice)
    switch = VirtualSwitch(host)
    echo_nic, ping_nic = VirtioNet(ECHO_MAC, "echo-net"), VirtioNet(PING_MAC, "ping-net")
    echo_port, ping_port = switch.plug(echo_nic), switch.plug(ping_nic)
    echo = host.create_vm(program("echo", echo_engine, count), engine=echo_engine,
                          name="echo", io=[echo_nic])
    ping = host.create_vm(program("ping", ping_engine, count), engine=ping_engine,
                          name="ping", io=[ping_nic])
    report = host.run(3_000_000)
    return host, switch, (echo, echo_port), (ping, ping_port), report


@pytest.mark.parametrize("echo_engine,ping_engine", PAIRS)
def test_two_guests_ping_pong_through_the_switch(echo_engine, ping_engine):
    """Each ping is answered: the consoles are exactly ITERATIONS lines each. Only the first
    ping is flooded (to the broadcast address); the echo answers to a learned MAC, and the
    later pings go to the echo's MAC, learned from its first answer. Both VMs wait in wfi
    for frames: the scheduler puts a waiting VM back on the run queue when a frame raises its
    line, so both shut down."""
    host, switch, (echo, echo_port), (ping, ping_port), report = ping_pong(echo_engine,
                                                                          ping_engine)
    stops = {row["name"]: row["stop"] for row in report["vms"]}
    assert stops == {"echo": "shutdown", "ping": "shutdown"}, report["vms"]
    assert bytes(ping.console) == b"".join(b"ping: got pong %d\n" % i for i in range(3))
    assert bytes(echo.console) == b"".join(b"echo: got ping %d\n" % i for i in range(3))
    assert ping_port.flooded == 1 and echo_port.flooded == 0
    assert ping_port.counters() == {"rx_frames": 3, "rx_bytes": 180, "tx_frames": 3,
                                    "tx_bytes": 180, "dropped": 0, "flooded": 1}
    assert switch.table() == {"52:54:00:00:00:01": ping_port.number,
                              "52:54:00:00:00:02": echo_port.number}


# -- the switch, with Python NICs --------------------------------------------------------------
class FakeNic:
    """A NIC the switch can plug: it keeps what it is handed."""

    def __init__(self, name):
        self.name, self.backend, self.got = name, None, []

    def deliver(self, data):
        self.got.append(data)
        return True

    def send(self, data):
        self.backend.transmit(data)


def three_ports():
    switch = VirtualSwitch()
    nics = [FakeNic(name) for name in "abc"]
    ports = [switch.plug(nic) for nic in nics]
    return switch, nics, ports


MAC = {name: bytes([2, 0, 0, 0, 0, n]) for n, name in enumerate("abc", 1)}


def test_switch_learns_so_the_second_frame_is_not_flooded():
    """a -> b: b unknown, flooded to b and c. b -> a: a was learned from the first frame's
    source, so only a gets it. a -> b again: b was learned from its answer: only b."""
    switch, (a, b, c), (pa, pb, pc) = three_ports()
    first, answer, second = (frame(MAC["b"], MAC["a"], b"1"), frame(MAC["a"], MAC["b"], b"2"),
                             frame(MAC["b"], MAC["a"], b"3"))
    a.send(first)
    assert switch.flush() == 2 and b.got == [first] and c.got == [first]
    b.send(answer)
    switch.flush()
    assert a.got == [answer] and c.got == [first]
    a.send(second)
    switch.flush()
    assert b.got == [first, second] and c.got == [first] and a.got == [answer]
    assert (pa.flooded, pb.flooded, pc.flooded) == (1, 0, 0)
    assert switch.table() == {"02:00:00:00:00:01": 0, "02:00:00:00:00:02": 1}


def test_switch_floods_broadcast_and_multicast_even_to_known_ports_but_never_hairpins():
    switch, (a, b, c), (pa, _, _) = three_ports()
    b.send(frame(MAC["a"], MAC["b"], b"learn b"))
    c.send(frame(MAC["a"], MAC["c"], b"learn c"))
    switch.flush()
    a.got.clear()
    for destination in (BROADCAST, bytes.fromhex("01005e000001")):     # IPv4 multicast MAC
        a.send(frame(destination, MAC["a"], b"all"))
    switch.flush()
    assert len(b.got) == 3 and len(c.got) == 3 and a.got == []     # b, c also had "learn"
    a.send(frame(MAC["a"], MAC["a"], b"to myself"))                  # a's MAC is on a's port
    assert switch.flush() == 0 and a.got == []
    assert pa.flooded == 2


def test_switch_drops_runts_and_giants_at_the_port():
    switch, (a, b, _), (pa, _, _) = three_ports()
    a.send(b"\xff" * 13)
    a.send(frame(BROADCAST, MAC["a"], b"x" * (MAX_FRAME - 14 + 1)))
    assert switch.flush() == 0 and b.got == [] and pa.dropped == 2 and pa.rx_frames == 0
    a.send(frame(BROADCAST, MAC["a"], b"x" * (MAX_FRAME - 14)))     # the largest that fits
    assert switch.flush() == 2


def test_mirror_sees_every_frame_of_a_port_and_a_mirror_port_gets_copies():
    """mirror(pa, callable) sees a's frames in and out, in order; mirror(None, port d) copies
    every frame in and out of every port to d, and d's own copies are not mirrored again."""
    switch, (a, b, c), (pa, pb, pc) = three_ports()
    seen = []
    switch.mirror(pa, seen.append)
    d = FakeNic("d")
    pd = switch.plug(d)
    switch.mirror(None, pd)
    out, back = frame(BROADCAST, MAC["a"], b"hello"), frame(MAC["a"], MAC["b"], b"hi")
    a.send(out)
    switch.flush()
    b.send(back)
    switch.flush()
    assert seen == [MirroredFrame(0, "in", out), MirroredFrame(0, "out", back)]
    # d: flooded `out` itself (it is a port too), then copies of every in and out
    assert d.got.count(out) == 1 + 1 + 3 and d.got.count(back) == 1 + 1
    assert pd.tx_frames == len(d.got)


def test_plug_refuses_what_is_not_a_nic():
    with pytest.raises(ValueError, match="is not a NIC"):
        VirtualSwitch().plug(object())
    with pytest.raises(ValueError, match="a mirror observer"):
        VirtualSwitch().mirror(None, 42)


def test_frames_sent_during_a_run_reach_the_other_vm_only_between_runs():
    """The ping VM's doorbell forwards its frame at once, but the echo VM (hw: its line is
    hvip on the hart) gets it only at flush: during ping's run its RAM and PLIC stay as they
    were. After flush its line is up and its wfi stop cleared (irq.py)."""
    host = Host(ram_size=64 << 20)
    switch = VirtualSwitch()                     # no host: this test flushes itself
    echo_nic, ping_nic = VirtioNet(ECHO_MAC), VirtioNet(PING_MAC)
    switch.plug(echo_nic), switch.plug(ping_nic)
    echo = host.create_vm(program("echo", "hw", 1), engine="hw", name="echo", io=[echo_nic])
    ping = host.create_vm(program("ping", "hw", 1), engine="hw", name="ping", io=[ping_nic])
    assert echo.run(200_000).reason == "wfi"
    before = hashlib.sha256(echo.read_guest(GUEST_RAM, echo.ram_size)).digest()
    assert ping.run(200_000).reason == "wfi"
    assert len(switch.queue) == 1 and echo.stop.reason == "wfi" and not echo.plic.line
    assert hashlib.sha256(echo.read_guest(GUEST_RAM, echo.ram_size)).digest() == before
    assert switch.flush() == 1 and echo.stop is None and echo.plic.line
    assert echo.run(200_000).reason == "shutdown"
    assert bytes(echo.console) == b"echo: got ping 0\n"


# -- hostile input -----------------------------------------------------------------------------
QUEUE = GUEST_RAM + 0x20_0000           # where the Python driver below puts its rings
RX_BUFFERS = QUEUE + 0x1_0000
SIZE = 8


def python_driver(vm, nic, rx_buffer=1536):
    """Bring `nic` up as a driver would (3.1.1), from Python: queue 0 at QUEUE, queue 1 at
    QUEUE + 0x1000 (desc, avail + 0x100, used + 0x200), SIZE receive buffers posted."""
    w = lambda offset, value: nic.write(offset, 4, value)         # noqa: E731
    for status in (0, 1, 3):
        w(R.STATUS, status)
    w(R.DRIVER_FEATURES_SEL, 1)
    w(R.DRIVER_FEATURES, 1)                                      # VERSION_1
    w(R.STATUS, 11)
    for index in (0, 1):
        base = QUEUE + 0x1000 * index
        vm.write_guest(base, bytes(0x300))
        w(R.QUEUE_SEL, index)
        w(R.QUEUE_NUM, SIZE)
        w(R.QUEUE_DESC_LOW, base)
        w(R.QUEUE_DRIVER_LOW, base + 0x100)
        w(R.QUEUE_DEVICE_LOW, base + 0x200)
        w(R.QUEUE_READY, 1)
    w(R.STATUS, 15)
    table = b"".join(struct.pack("<QIHH", RX_BUFFERS + i * 2048, rx_buffer, 2, 0)
                     for i in range(SIZE))
    vm.write_guest(QUEUE, table)
    vm.write_guest(QUEUE + 0x100, struct.pack("<HH", 0, SIZE) + struct.pack(f"<{SIZE}H",
                                                                            *range(SIZE)))
    w(R.QUEUE_NOTIFY, 0)


@functools.cache
def victim_and_attacker():
    """Two VMs on one host, made once (a host takes a while): `vm` has the NIC, which each
    example resets and sets up again (python_driver); `victim` has run to its wfi."""
    host = Host(ram_size=32 << 20)
    victim = host.create_vm(program("echo", "trap", 1), engine="trap", name="victim")
    victim.run(100_000)
    nic = VirtioNet(PING_MAC)
    vm = host.create_vm(program("ping", "trap", 1), engine="trap", name="nic", io=[nic])
    return victim, vm, nic


def fresh_nic():
    victim, vm, nic = victim_and_attacker()
    nic.backend = Recorder()
    nic.rx_dropped = 0
    python_driver(vm, nic)
    return victim, vm, nic, nic.backend


def ram(vm):
    return hashlib.sha256(vm.read_guest(GUEST_RAM, vm.ram_size)).digest()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.one_of(st.binary(max_size=64), st.binary(min_size=1500, max_size=1600),
                      st.binary(max_size=1600)))
def test_any_frame_from_the_network_lands_whole_in_a_buffer_or_is_dropped(data):
    """Frames of 14..1514 bytes land in the next receive buffer after a zero header with
    num_buffers = 1, the used entry saying 12 + length bytes; any other is dropped and
    counted; nothing but that buffer and the used ring changes."""
    victim, vm, nic, _ = fresh_nic()
    before = bytearray(vm.read_guest(GUEST_RAM, vm.ram_size))
    took = nic.deliver(data)
    assert took == (14 <= len(data) <= MAX_FRAME)
    after = vm.read_guest(GUEST_RAM, vm.ram_size)
    if took:
        packet = bytes(10) + b"\1\0" + data
        start = RX_BUFFERS - GUEST_RAM
        before[start:start + len(packet)] = packet
        used = QUEUE + 0x200 - GUEST_RAM
        before[used + 2:used + 4] = struct.pack("<H", 1)
        before[used + 4:used + 12] = struct.pack("<II", 0, HEADER + len(data))
    else:
        assert nic.rx_dropped == 1
    assert after == bytes(before)


ADDRESSES = st.one_of(st.integers(0, (1 << 64) - 1),
                      st.sampled_from([GUEST_RAM - 16, GUEST_RAM + (4 << 20) - 8,
                                       GUEST_RAM + (4 << 20), (1 << 64) - 8, 0]),
                      st.integers(GUEST_RAM, GUEST_RAM + (4 << 20)))
LENGTHS = st.one_of(st.integers(0, 100), st.integers(0, (1 << 32) - 1))
INSIDE = st.integers(GUEST_RAM, GUEST_RAM + (4 << 20) - 2048)
SANE = st.tuples(INSIDE, st.integers(HEADER + 14, HEADER + MAX_FRAME), st.sampled_from([0, 2]),
                 st.just(0))                  # one buffer, either direction: often served
DESCRIPTORS = st.lists(st.one_of(SANE, st.tuples(ADDRESSES, LENGTHS, st.integers(0, 7),
                                                 st.integers(0, SIZE + 1))),
                       min_size=SIZE, max_size=SIZE)
INDICES = st.one_of(st.integers(0, SIZE + 1), st.integers(0, 0xFFFF))


SANE_TABLE = [(GUEST_RAM + 0x1000, HEADER + 60, 0, 0)] * SIZE


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@example(tx=SANE_TABLE, rx=[(GUEST_RAM + 0x3000, 1600, 2, 0)] * SIZE, tx_idx=2,
         heads=[0] * SIZE, frames=[bytes(60), bytes(13)])                 # served, the rules kept
@example(tx=[(GUEST_RAM + (4 << 20) - 8, 72, 0, 0)] * SIZE, rx=[((1 << 64) - 8, 1600, 2, 0)] * SIZE,
         tx_idx=1, heads=[0] * SIZE, frames=[bytes(60)])                  # both past RAM's end
@given(tx=DESCRIPTORS, rx=DESCRIPTORS, tx_idx=INDICES,
       heads=st.lists(INDICES, min_size=SIZE, max_size=SIZE),
       frames=st.lists(st.binary(max_size=1600), max_size=4))
def test_hostile_rings_never_raise_and_touch_nothing_outside_the_vm(tx, rx, tx_idx, heads,
                                                                    frames):
    """Random descriptor tables (addresses across the RAM's edges, any flags and next),
    avail indices and heads on both queues: notifying and delivering never raise, the
    backend sees only well-sized frames, and nothing outside the NIC's VM changes: not the
    other VM, not any host RAM (test_hostile_props.outside_guest: all but the VM's RAM)."""
    victim, vm, nic, backend = fresh_nic()
    victim_ram, host_ram = ram(victim), outside_guest(vm)
    for base, table in ((QUEUE, rx), (QUEUE + 0x1000, tx)):
        vm.write_guest(base, b"".join(struct.pack("<QIHH", *d) for d in table))
        vm.write_guest(base + 0x104, struct.pack(f"<{SIZE}H", *heads))
    vm.write_guest(QUEUE + 0x1000 + 0x100, struct.pack("<HH", 0, tx_idx))
    nic.write(R.QUEUE_NOTIFY, 4, 1)
    for data in frames:
        nic.deliver(data)
    assert all(14 <= len(f) <= MAX_FRAME for f in backend.frames)
    assert nic.status & R.DEVICE_NEEDS_RESET or not nic.broken
    assert ram(victim) == victim_ram
    assert outside_guest(vm) == host_ram          # the host's RAM but the NIC VM's: the same


def test_a_vm_waiting_for_a_frame_leaves_the_run_queue_and_comes_back_when_one_arrives():
    """On a Host, ping waits in wfi with no timer: host.run ends with its stop "wfi" (nothing
    else can run). A frame delivered before the next host.run raises its line; the scheduler
    puts it back on the run queue and it sends its next ping."""
    host = Host(ram_size=32 << 20)
    backend = Recorder()
    nic = VirtioNet(PING_MAC, backend=backend)
    ping = host.create_vm(program("ping", "hw", 2), engine="hw", name="ping", io=[nic])
    report = host.run(1_000_000)
    assert report["vms"][0]["stop"] == "wfi" and report["host_time"] < 1_000_000
    assert len(backend.frames) == 1
    nic.deliver(frame(PING_MAC, ECHO_MAC, b"pong 0"))
    assert host.run(1_000_000)["vms"][0]["stop"] == "wfi"
    assert backend.frames[1] == frame(ECHO_MAC, PING_MAC, b"ping 1")
    assert bytes(ping.console) == b"ping: got pong 0\n"
