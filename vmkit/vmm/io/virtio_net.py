"""virtio-net: the paravirtual network card (virtio 1.2, section 5.1; Xen's netfront/netback,
the x86 guest's virtio_net driver on KVM alike).

Two queues: receiveq 0, where the driver posts empty buffers the device fills with frames
from the network, and transmitq 1, where it posts frames to send. Every frame, in either
direction, is preceded by the 12-byte `struct virtio_net_hdr` (5.1.6): flags u8, gso_type u8,
hdr_len u16, gso_size u16, csum_start u16, csum_offset u16, num_buffers u16 (present with
VIRTIO_F_VERSION_1, which the transport requires). Offered: VIRTIO_NET_F_MAC, the MAC in the
configuration space (bytes 0..5).

The network side is the same as for any vmkit NIC: the device calls `backend.transmit(frame)`
for each frame the guest sends (a switch port, switch.py; with no backend the frame is
dropped and counted), and the network calls `deliver(frame)` to hand the guest one; with no
receive buffer posted the frame is dropped and counted, as a real NIC drops it when its ring
is full.

Hostile input: a transmitted chain shorter than the header, a frame shorter than an Ethernet
header (14 bytes) or longer than MAX_FRAME is dropped and counted (`tx_errors`), its buffer
returned; a chain that breaks the ring's rules puts the device into DEVICE_NEEDS_RESET
(virtqueue.py). A receive buffer too small for header and frame takes nothing: the frame is
dropped (`rx_dropped`) and the buffer returned with 0 bytes written.

Left out: checksum and segmentation offloads (CSUM, GUEST_CSUM, the TSO/UFO bits: the header
is always zero but for num_buffers = 1), mergeable receive buffers (MRG_RXBUF), the link
STATUS field, the control queue (CTRL_VQ: MAC filtering, VLANs, promiscuous mode), multiqueue
(MQ, RSS) and MTU; the device delivers every frame the network hands it.
"""

import struct

from .virtio_mmio import DEVICE_NEEDS_RESET, DRIVER_OK, USED_BUFFER, VirtioMmioDevice
from .virtqueue import VirtqueueError

VIRTIO_ID_NET = 1
VIRTIO_NET_F_MAC = 5
RECEIVEQ, TRANSMITQ = 0, 1
HEADER = 12                            # struct virtio_net_hdr with num_buffers (5.1.6)
ETHERNET_HEADER = 14                   # destination, source, EtherType
MAX_FRAME = 1514                       # Ethernet's 1500-byte MTU + its header, no FCS
QEMU_MAC = "52:54:00:12:34:56"         # QEMU's default NIC address (locally administered)


def parse_mac(mac):
    """A MAC as 6 bytes, from bytes or "aa:bb:cc:dd:ee:ff"; ValueError otherwise."""
    if isinstance(mac, str):
        parts = mac.split(":")
        try:
            mac = bytes(int(part, 16) for part in parts if len(part) == 2)
        except ValueError:
            mac = b""
        if len(parts) != 6:
            mac = b""
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes or 'aa:bb:cc:dd:ee:ff', not {mac!r}")
    return bytes(mac)


def format_mac(mac):
    return ":".join(f"{b:02x}" for b in mac)


class VirtioNet(VirtioMmioDevice):
    device_id = VIRTIO_ID_NET
    features = 1 << VIRTIO_NET_F_MAC
    queue_count = 2

    def __init__(self, mac=QEMU_MAC, name="virtio-net", backend=None):
        self.mac, self.name, self.backend = parse_mac(mac), name, backend
        self.tx_frames = self.rx_frames = 0        # frames that went through
        self.tx_dropped = self.rx_dropped = 0      # no backend / no (big enough) buffer
        self.tx_errors = 0                         # malformed frames the guest sent
        super().__init__()

    @property
    def config(self):
        return self.mac                            # struct virtio_net_config: mac[6] first

    # -- transmit: the guest's frames to the network -------------------------------------------
    def process(self, index, ring):
        if index != TRANSMITQ:
            return 0        # receiveq: new empty buffers; they are used when a frame comes
        served = 0
        while (chain := ring.pop()) is not None:
            self.send(chain.read_all(self.dma))
            ring.push(chain.head, 0)               # the device writes nothing into a tx buffer
            served += 1
        return served

    def send(self, packet):
        frame = packet[HEADER:]
        if len(packet) < HEADER or not ETHERNET_HEADER <= len(frame) <= MAX_FRAME:
            self.tx_errors += 1
        elif self.backend is None:
            self.tx_dropped += 1
        else:
            self.tx_frames += 1
            self.backend.transmit(bytes(frame))

    # -- receive: the network's frames to the guest --------------------------------------------
    def deliver(self, frame):
        """Put `frame` into the guest's next receive buffer and interrupt it; True if it got
        there. Call between the VM's runs (switch.py queues frames for that)."""
        frame = bytes(frame)
        ring = self.rings[RECEIVEQ]
        if (not self.status & DRIVER_OK or self.status & DEVICE_NEEDS_RESET or ring is None
                or not ETHERNET_HEADER <= len(frame) <= MAX_FRAME):
            self.rx_dropped += 1
            return False
        try:
            chain = ring.pop()
            if chain is None:
                self.rx_dropped += 1
                return False
            packet = struct.pack("<BBHHHHH", 0, 0, 0, 0, 0, 0, 1) + frame   # num_buffers 1
            if chain.writable_bytes < len(packet):
                ring.push(chain.head, 0)
                self.rx_dropped += 1
                delivered = False
            else:
                ring.push(chain.head, chain.write_all(self.dma, packet))
                self.rx_frames += 1
                delivered = True
            ring.publish_avail_event()
            if ring.want_interrupt():
                self.interrupt(USED_BUFFER)
            return delivered
        except VirtqueueError as error:
            self.needs_reset(str(error))
            self.rx_dropped += 1
            return False

    def statistics(self):
        return {"tx_frames": self.tx_frames, "tx_dropped": self.tx_dropped,
                "tx_errors": self.tx_errors, "rx_frames": self.rx_frames,
                "rx_dropped": self.rx_dropped}
