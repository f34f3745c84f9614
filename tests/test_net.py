"""virtio-net (vmkit/vmm/io/virtio_net.py), the virtual switch (vmkit/vmm/io/switch.py) and the
teaching kernel's driver (vmkit/guest/virtio_net.inc, ping.s, echo.s).

Expected frames are built here byte by byte from the Ethernet layout (destination, source,
EtherType 0x88B5, payload, zero padding to the 60-byte minimum) and the guests' source, not
taken from a run. Every guest test runs under every engine (pv runs the PV build)."""

import hashlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vmkit.guest import build
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.host import Host
from vmkit.vmm.io import virtio_mmio as R
from vmkit.vmm.io.switch import MirroredFrame, VirtualSwitch
from vmkit.vmm.io.virtio_net import HEADER, MAX_FRAME, VirtioNet, parse_mac
from vmkit.vmm.layout import GUEST_RAM
from vmkit.vmm.vm import VirtualMachine

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
