"""A learning Ethernet switch on the host: how VMs' NICs reach each other (infrastructure
virtualization: the Linux bridge, Open vSwitch; VMware's vSwitch).

    switch = VirtualSwitch(host)              # with a Host: frames move between slices
    a, b = switch.plug(nic_a), switch.plug(nic_b)
    switch.mirror(a, frames.append)           # a SPAN port: every frame in or out of `a`

A NIC is anything with `backend` (the switch sets it to the NIC's port, whose `transmit(frame)`
the NIC calls for every frame its guest sends) and `deliver(frame)` (the switch hands it a
frame): virtio_net.py, and the emulated NE2000-style NIC alike.

Forwarding (IEEE 802.1D's transparent bridge): the switch learns the source MAC of every frame
into its MAC table (MAC -> port); a frame to a MAC in the table goes out of that port only; a
frame to an unknown MAC or to a group address (broadcast ff:ff:ff:ff:ff:ff, multicast: bit 0
of the first byte) is flooded out of every port but the one it came in by. A frame is never
sent back out of its own port (no hairpin). A frame shorter than an Ethernet header or longer
than MAX_FRAME is dropped at the port. Left out: ageing of table entries, VLANs, STP.

Delivery happens between runs, never during one. A NIC's transmit is called while its VM runs
(at the doorbell); handing the frame at once to another VM's NIC would write that VM's RAM and
raise its interrupt line while the sender's context is on the hart: under `hw` raising the line
switches the hart to the receiver (hvip is a hart register) in the middle of the sender's run.
So forwarding (learning, mirroring, counting) is immediate and the deliveries wait in a queue
until `flush()`: a Host's scheduler calls it between two slices, a program that runs VMs
itself calls it between their runs. A delivery raises the receiver's line, which wakes a
guest waiting in wfi (irq.py).
"""

from collections import deque
from dataclasses import dataclass

from .virtio_net import ETHERNET_HEADER, MAX_FRAME, format_mac

BROADCAST = b"\xff" * 6


@dataclass
class MirroredFrame:
    """One frame an observer sees: the port number, "in" (from its NIC) or "out" (to it)."""
    port: int
    direction: str
    frame: bytes


class Port:
    """One switch port; the NIC plugged into it calls `transmit` (it is the NIC's backend)."""

    def __init__(self, switch, number, nic):
        self.switch, self.number, self.nic = switch, number, nic
        self.rx_frames = self.rx_bytes = 0       # from the NIC into the switch
        self.tx_frames = self.tx_bytes = 0       # from the switch to the NIC
        self.dropped = 0                         # bad frames in, frames the NIC refused out
        self.flooded = 0                         # frames this port sent that were flooded

    def transmit(self, frame):
        self.switch.forward(self, bytes(frame))

    def counters(self):
        return {"rx_frames": self.rx_frames, "rx_bytes": self.rx_bytes,
                "tx_frames": self.tx_frames, "tx_bytes": self.tx_bytes,
                "dropped": self.dropped, "flooded": self.flooded}

    def __repr__(self):
        return f"Port({self.number}, {getattr(self.nic, 'name', self.nic)!r})"


class VirtualSwitch:
    def __init__(self, host=None):
        """With `host`, its scheduler delivers queued frames between slices."""
        self.ports = []
        self.mac_table = {}                      # MAC (6 bytes) -> Port
        self.mirrors = []                        # (port or None, observer)
        self.queue = deque()                     # (Port, frame, mirror copy?) to deliver
        if host is not None:
            host.between_runs.append(self.flush)

    def plug(self, nic):
        """Connect `nic` to a new port; returns the port."""
        if not callable(getattr(nic, "deliver", None)) or not hasattr(nic, "backend"):
            raise ValueError(f"{nic!r} is not a NIC: it needs `deliver(frame)` and a "
                             "`backend` the switch can set")
        port = Port(self, len(self.ports), nic)
        self.ports.append(port)
        nic.backend = port
        return port

    def mirror(self, port, observer):
        """Copy every frame that enters or leaves `port` (None: every port) to `observer`: a
        callable given a MirroredFrame, or another Port, whose NIC gets the frame itself."""
        if isinstance(observer, Port):
            target = observer
            observer = lambda seen: self.queue.append((target, seen.frame, True))  # noqa: E731
        elif not callable(observer):
            raise ValueError(f"a mirror observer is a Port or a callable, not {observer!r}")
        self.mirrors.append((port, observer))
        return observer

    # -- forwarding ----------------------------------------------------------------------------
    def forward(self, port, frame):
        """A frame came in by `port`: learn, mirror, and queue it for the ports it goes to."""
        if not ETHERNET_HEADER <= len(frame) <= MAX_FRAME:
            port.dropped += 1
            return
        port.rx_frames += 1
        port.rx_bytes += len(frame)
        self._observe(port, "in", frame)
        destination, source = frame[0:6], frame[6:12]
        if not source[0] & 1:                    # a group address is never a source
            self.mac_table[source] = port
        known = self.mac_table.get(destination)
        if destination[0] & 1 or known is None:
            port.flooded += 1
            outs = [p for p in self.ports if p is not port]
        else:
            outs = [] if known is port else [known]          # no hairpin
        for out in outs:
            self.queue.append((out, frame, False))

    def _observe(self, port, direction, frame):
        for watched, observer in self.mirrors:
            if watched is None or watched is port:
                observer(MirroredFrame(port.number, direction, frame))

    def flush(self):
        """Hand every queued frame to its NIC (call between runs); returns how many went."""
        delivered = 0
        while self.queue:
            port, frame, copy = self.queue.popleft()
            if not copy:                         # a mirror's copy is not mirrored again
                self._observe(port, "out", frame)
            if port.nic.deliver(frame):
                port.tx_frames += 1
                port.tx_bytes += len(frame)
                delivered += 1
            else:
                port.dropped += 1
        return delivered

    def table(self):
        """The MAC table as text keys: {"52:54:00:..": port number}."""
        return {format_mac(mac): port.number for mac, port in self.mac_table.items()}

    def counters(self):
        return [port.counters() for port in self.ports]
