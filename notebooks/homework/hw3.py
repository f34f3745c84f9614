"""Homework 3 (I/O virtualization), the student's side: your variant's questions, a small
virtio-blk driver in Python to experiment with, and the checks of an answer's form. It holds
no answers: those are computed by the instructors' autograder, which runs vmkit's device
models (vmkit/vmm/io) when your notebook is graded.

    import hw3
    variant = hw3.Variant.of("your student ID")
    print(variant.text())

As in homeworks 1 and 2, a seed picks the problem; the seed is a hash of your student ID.
Lecture names: software emulation (*szoftveres emuláció*; an emulated disk in the style of ATA
PIO), paravirtualization (*paravirtualizáció*; virtio, Xen's split drivers), hardware support
(*hardveres virtualizáció*; Intel VT-d / AMD-Vi, the IOMMU, PCI SR-IOV).
"""

import hashlib
import random
import struct

from vmkit.asm import assemble
from vmkit.vmm.io import virtio_mmio as mmio
from vmkit.vmm.io.disk import RawDisk
from vmkit.vmm.io.virtio_blk import VIRTIO_BLK_T_IN, VirtioBlk
from vmkit.vmm.io.virtqueue import VIRTQ_AVAIL_F_NO_INTERRUPT, need_event
from vmkit.vmm.vm import VirtualMachine

# Descriptor flags (virtio 1.2, 2.7.5): NEXT chains on, WRITE marks a device-writable buffer.
NEXT, WRITE = 1, 2
NEEDS_RESET = "device needs reset"     # q1's answer for a chain that breaks the ring's rules
QUEUE = 0x8010_0000                    # q1: where the driver put its queue in guest RAM
Q1_SIZE = 8
DATA = 0x8020_0000                     # where q1's and the Driver's buffers are
SECTOR = 512
REQUEST = 4096                         # q2, q3: each request reads 4 KiB (8 sectors)

# q2: how the driver asks for interrupts (the question's text says what each one does).
Q2_MODES = {
    "plain": "no EVENT_IDX, avail.flags = 0",
    "no-interrupt": "no EVENT_IDX, avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT (it polls the "
                    "used ring)",
    "event-idx per batch": "EVENT_IDX negotiated; when it starts a batch it sets used_event to "
                           "the used index of that batch's last request",
    "event-idx once": "EVENT_IDX negotiated; before the first request it sets used_event to "
                      "the used index of the last request of all (N - 1)",
}

# q4: three multiple-choice questions, each with one right option; the order is seeded.
Q4_QUESTIONS = {
    "q4a": ("A VMM assigns a DMA-capable disk controller directly to a guest (passthrough), on "
            "a machine without an IOMMU. Why does that break isolation?", [
                "The guest's driver programs the device with addresses the device uses as "
                "host-physical ones, and nothing between the device and memory checks them: "
                "the guest can make it read or write any host memory, other VMs' and the "
                "VMM's included.",
                "The device's registers stay in the VMM's address space, so every access "
                "the guest makes to them is a VM exit that the VMM must emulate.",
                "The device's interrupts arrive at the host, so the guest never learns that "
                "its requests completed.",
                "The guest's second-stage page table (x86: EPT) maps the device's registers, "
                "so the guest's loads and stores to them bypass the CPU's MMU.",
            ]),
    "q4b": ("What does SR-IOV add over assigning one whole physical device to one VM?", [
                "One physical function (PF) shows itself as many virtual functions (VFs), "
                "each a PCI function of its own with its own queues and DMA requester ID: "
                "each VF is assigned to a different VM, isolated by the IOMMU, while the PF "
                "stays with the host.",
                "It lets a guest's DMA skip the IOMMU, so an assigned device gets faster.",
                "It makes the device emulated in software, so any number of VMs can share it "
                "without a driver in the guest.",
                "It replaces the virtqueue with a ring in device memory, so a paravirtual "
                "driver needs no notifications.",
            ]),
    "q4c": ("What is interrupt remapping (VT-d, the RISC-V IOMMU's MSI translation) for?", [
                "An assigned device's interrupt (an MSI: a write the device makes) is "
                "checked and redirected by the IOMMU's table to the VM that owns the device, "
                "so a guest cannot make its device raise another VM's or the host's "
                "interrupts.",
                "It moves the interrupt controller's registers to another address so that a "
                "guest's accesses to them exit.",
                "It numbers interrupts anew at every boot, so a guest cannot guess the "
                "host's interrupt numbers.",
                "It turns an emulated device's interrupts into polling, so the guest takes "
                "no VM exit for them.",
            ]),
}


def seed_of(student_id):
    """A stable seed from a student ID (sha256: Python's hash() changes between runs)."""
    text = "" if student_id is ... else str(student_id).strip()
    if not text:
        raise ValueError("put your student ID in STUDENT_ID first, e.g. STUDENT_ID = \"AB12CD\"")
    return int.from_bytes(hashlib.sha256(b"vmkit-hw3:" + text.encode()).digest()[:4], "big")


class Variant:
    """The tables, counts and protocol of one seed's questions (never the answers)."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.seed = seed
        self._q1(rng)
        # q2: N requests in batches of B on a queue of Q descriptors; two interrupt modes.
        self.q2_requests = rng.randint(12, 40)
        self.q2_batch = rng.randint(2, 8)
        self.q2_queue = rng.choice((8, 16))
        self.q2_modes = rng.sample(list(Q2_MODES), 2)
        # q3: the emulated disk's PIO protocol, and virtio's batch.
        self.lba_registers = rng.choice((1, 4))      # one 32-bit LBA register, or ATA's four
        self.data_width = rng.choice((2, 4))         # ATA's data register is 16 bits wide
        self.busy_polls = rng.randint(1, 3)          # status reads until DRQ
        self.one_command = rng.random() < 0.5        # one command for all 8 sectors
        self.q3_batch = rng.randint(1, 8)
        # q4: each question's options in a seeded order.
        self.q4_options = {name: rng.sample(options, len(options))
                           for name, (_, options) in Q4_QUESTIONS.items()}

    def _q1(self, rng):
        """A descriptor table of 8 and an available ring: the request at the device's next
        slot is a virtio-blk chain (header, data, status), or one broken in a seeded way."""
        order = list(range(Q1_SIZE))
        rng.shuffle(order)
        self.q1_taken = rng.randrange(0, 40)              # requests the device took so far
        self.q1_avail_idx = (self.q1_taken + rng.randint(1, 3)) & 0xFFFF
        self.q1_flaw = rng.choice(("none", "none", "none", "loop", "readable after writable",
                                   "next beyond the table"))
        write = rng.random() < 0.5                         # a write request reads its data
        length = 3 if self.q1_flaw == "readable after writable" else rng.choice((2, 3))
        chain = order[:length]
        sectors = rng.choice((1, 2, 4, 8))
        buffers = [(DATA + 0x100 * rng.randrange(16), 16, 0)]               # the header
        if length == 3:
            buffers.append((DATA + 0x1000 * rng.randrange(1, 16), SECTOR * sectors,
                            0 if write else WRITE))
        buffers.append((DATA + 0x100 * rng.randrange(16, 32) + rng.randrange(16), 1, WRITE))
        if self.q1_flaw == "readable after writable":       # the status before the data
            buffers = [buffers[0], (buffers[-1][0], 1, WRITE),
                       (DATA + 0x1000 * rng.randrange(1, 16), SECTOR * sectors, 0)]
        table = [None] * Q1_SIZE
        for i, (index, (addr, size, flags)) in enumerate(zip(chain, buffers)):
            last = i == len(chain) - 1
            nxt = chain[i + 1] if not last else rng.randrange(Q1_SIZE)   # ignored without NEXT
            table[index] = [addr, size, flags | (0 if last else NEXT), nxt]
        end = table[chain[-1]]
        if self.q1_flaw == "loop":
            end[2] |= NEXT
            end[3] = rng.choice(chain)
        elif self.q1_flaw == "next beyond the table":
            end[2] |= NEXT
            end[3] = rng.randrange(Q1_SIZE, 16)
        # The other descriptors: another request (header, status) and leftovers.
        rest = order[length:]
        for i, index in enumerate(rest):
            flags = rng.choice((0, WRITE, NEXT, NEXT | WRITE))
            table[index] = [DATA + 0x100 * rng.randrange(32, 64), rng.choice((1, 16, 512)),
                            flags, rest[(i + 1) % len(rest)]]
        self.q1_table = table
        # The ring: the head in question at the device's next slot, other heads elsewhere.
        ring = [rng.choice(rest) for _ in range(Q1_SIZE)]
        ring[self.q1_taken % Q1_SIZE] = chain[0]
        self.q1_ring = ring

    def q1_bytes(self):
        """(descriptor table, available ring) as the bytes the driver wrote in guest RAM."""
        table = b"".join(struct.pack("<QIHH", *row) for row in self.q1_table)
        avail = struct.pack(f"<HH{Q1_SIZE}HH", 0, self.q1_avail_idx, *self.q1_ring, 0)
        return table, avail

    @property
    def q3_protocol(self):
        """The emulated disk's protocol for one 4 KiB read, in words."""
        lba = ("one write of the 32-bit LBA register" if self.lba_registers == 1 else
               "four writes of the LBA registers (LBA low, mid, high, and the device "
               "register with LBA bits 27:24)")
        setup = (f"{lba}, one write of the sector-count register and one of the command "
                 "register (READ SECTORS)")
        per_sector = (f"the driver reads the status register until it shows DRQ (data ready: "
                      f"{self.busy_polls} read(s) per sector, BSY before), then reads the "
                      f"sector through the {8 * self.data_width}-bit data register "
                      f"({self.data_width} bytes per read), then reads the status register "
                      f"once more (which acknowledges the sector's interrupt)")
        if self.one_command:
            return (f"one command for all 8 sectors: {setup} (the count is 8), then for each "
                    f"sector {per_sector}")
        return (f"one command per sector: for each of the 8 sectors, {setup} (the count is "
                f"1), then {per_sector}")

    @classmethod
    def of(cls, student_id):
        """The variant of `student_id`; an example variant (with a note) while it is unset."""
        if student_id is ... or not str(student_id).strip():     # (seed_of would refuse it)
            print("STUDENT_ID is not set: these are the questions of an example variant. Put "
                  "your ID in (STUDENT_ID = \"AB12CD\") and run the cell again: you are graded "
                  "on the variant of your ID.\n")
            return cls(0)
        return cls(seed_of(student_id))

    def q1_text(self):
        rows = ["   i  addr                len         flags   next"]
        for i, (addr, size, flags, nxt) in enumerate(self.q1_table):
            rows.append(f"  {i:2}  {addr:#018x}  {size:#010x}  {flags:#06x}  {nxt:#06x}")
        ring = " ".join(f"{head}" for head in self.q1_ring)
        return (f"The driver's queue has {Q1_SIZE} entries. Its descriptor table (flags: "
                f"NEXT = 1, WRITE = 2):\n" + "\n".join(rows) +
                f"\n  available ring: flags 0x0000, idx {self.q1_avail_idx:#06x}, "
                f"ring[0..7] = {ring}\nThe device has taken {self.q1_taken} requests so far "
                f"(its last_avail). Which request does it take next: the list of its buffers "
                f"[(addr, len, 'readable' or 'writable')], or hw3.NEEDS_RESET if the chain "
                f"breaks the ring's rules? (q1)")

    def questions(self):
        n, b, q = self.q2_requests, self.q2_batch, self.q2_queue
        modes = "; ".join(f"(q2_interrupts_{letter}) {mode}: {Q2_MODES[mode]}"
                          for letter, mode in zip("ab", self.q2_modes))
        q4 = "\n".join(f"{name}: {Q4_QUESTIONS[name][0]}\n" + "\n".join(
            f"  ({letter}) {text}" for letter, text in zip("abcd", options))
            for name, options in self.q4_options.items())
        return {
            "q1": self.q1_text(),
            "q2": f"A virtio-blk driver reads N = {n} requests of 4 KiB (each a chain of 3 "
                  f"descriptors: header, data, status) on a queue of {q} descriptors, in "
                  f"batches of B = {b}: it makes a batch's requests available and notifies "
                  f"(QueueNotify) once at the end of the batch; when it has fewer than 3 free "
                  f"descriptors for the next request, it notifies at once. After each notify "
                  f"(the device serves all that is available) it takes the interrupt if one "
                  f"came and reaps the used ring, which frees the descriptors. How many "
                  f"notifications does it make (q2_notifications, the same in both modes), and "
                  f"how many interrupts does the device raise when {modes}?",
            "q3": f"The emulated disk reads 4 KiB with this protocol: {self.q3_protocol}. "
                  f"(q3_accesses) How many register accesses is that per 4 KiB request? "
                  f"(q3_function) Write io_cycles(exits, dma_bytes): the cycles, under `hw` "
                  f"with cost_model('modern'), of I/O that made `exits` device exits (each a "
                  f"VM exit to the device model) and copied `dma_bytes` by DMA. Then, per 4 KiB "
                  f"request: (q3_emulated) the emulated disk (every register access exits; no "
                  f"DMA: the data moves in the registers' values), (q3_virtio) virtio-blk with "
                  f"one notification per batch of {self.q3_batch} requests.",
            "q4": q4,
        }

    def text(self):
        return "\n\n".join(f"{name}: {text}" for name, text in self.questions().items())


# -- a small virtio-blk driver, for experiments (q2, q3) ---------------------------------------

def idle_program():
    """The VM's own guest only waits: the driver below is Python, writing the guest's RAM."""
    return assemble("    .globl _start\n_start:\n    wfi\n    j _start\n", "idle.s")


class Driver:
    """A virtio-blk driver in Python: it sets the device up as a guest's driver does (virtio
    1.2, 3.1.1) and makes read requests of 4 KiB in the guest's RAM. Each request is a chain of
    3 descriptors: header (device-readable), data, status (device-writable).

        d = hw3.Driver(queue_size=8, event_idx=False)
        d.post(sector=0)          # make one request available (False: no 3 free descriptors)
        d.notify()                # QueueNotify: under `hw`, one VM exit
        d.interrupted()           # did the device interrupt? (reads and acks InterruptStatus)
        d.reap()                  # the requests the device returned; frees their descriptors
        d.device.notifications    # doorbell writes the device counted
        d.vm.counters.dma_bytes   # bytes the device read or wrote in guest RAM

    `set_used_event(index)` (with EVENT_IDX) and `set_no_interrupt(True)` (without) tell the
    device when the driver wants interrupts; `notify_needed()` says whether the device asked
    (with EVENT_IDX: avail_event) to be notified of what was posted since the last notify."""

    def __init__(self, queue_size=8, event_idx=False):
        if queue_size not in (4, 8, 16, 32, 64):
            raise ValueError("queue_size must be one of 4, 8, 16, 32, 64")
        self.size, self.event_idx = queue_size, bool(event_idx)
        self.device = VirtioBlk(RawDisk(size=64 * REQUEST))
        self.vm = VirtualMachine(idle_program(), engine="native", io=[self.device])
        self.desc = QUEUE
        self.avail = QUEUE + 16 * queue_size
        self.used = QUEUE + 0x1000
        self.free = list(range(queue_size))
        self.avail_idx = self.notified_idx = self.last_used = 0
        self._set_up()

    def _reg(self, offset, value=None):
        if value is None:
            return self.device.read(offset, 4)
        self.device.write(offset, 4, value)

    def _set_up(self):
        r = self._reg
        r(mmio.STATUS, 0)
        r(mmio.STATUS, mmio.ACKNOWLEDGE)
        r(mmio.STATUS, mmio.ACKNOWLEDGE | mmio.DRIVER)
        accepted = 1 << mmio.VIRTIO_F_VERSION_1 | self.event_idx << mmio.VIRTIO_F_EVENT_IDX
        for word in (0, 1):                                   # features are 64 bits, 32 a word
            r(mmio.DRIVER_FEATURES_SEL, word)
            r(mmio.DRIVER_FEATURES, accepted >> 32 * word & 0xFFFFFFFF)
        r(mmio.STATUS, mmio.ACKNOWLEDGE | mmio.DRIVER | mmio.FEATURES_OK)
        r(mmio.QUEUE_SEL, 0)
        r(mmio.QUEUE_NUM, self.size)
        r(mmio.QUEUE_DESC_LOW, self.desc)
        r(mmio.QUEUE_DRIVER_LOW, self.avail)
        r(mmio.QUEUE_DEVICE_LOW, self.used)
        r(mmio.QUEUE_READY, 1)
        r(mmio.STATUS, mmio.ACKNOWLEDGE | mmio.DRIVER | mmio.FEATURES_OK | mmio.DRIVER_OK)
        assert r(mmio.STATUS) & mmio.FEATURES_OK, "the device refused the features"

    def _write(self, gpa, fmt, *values):
        assert self.vm.write_guest(gpa, struct.pack(fmt, *values))

    def _read16(self, gpa):
        return struct.unpack("<H", self.vm.read_guest(gpa, 2))[0]

    def post(self, sector=0):
        """Make one 4 KiB read of `sector` available; False when fewer than 3 descriptors are
        free (notify and reap first)."""
        if len(self.free) < 3:
            return False
        header, data, status = (self.free.pop(0) for _ in range(3))
        base = DATA + 0x2000 * header            # each head owns its buffers
        self._write(base, "<IIQ", VIRTIO_BLK_T_IN, 0, sector)
        for index, addr, size, flags, nxt in ((header, base, 16, NEXT, data),
                                              (data, base + 0x1000, REQUEST, NEXT | WRITE,
                                               status),
                                              (status, base + 0x20, 1, WRITE, 0)):
            self._write(self.desc + 16 * index, "<QIHH", addr, size, flags, nxt)
        self._write(self.avail + 4 + 2 * (self.avail_idx % self.size), "<H", header)
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self._write(self.avail + 2, "<H", self.avail_idx)       # after the ring entry
        return True

    def notify_needed(self):
        """Does the device want a notification for what was posted since the last one?"""
        if self.event_idx:
            avail_event = self._read16(self.used + 4 + 8 * self.size)
            return need_event(avail_event, self.avail_idx, self.notified_idx)
        return not self._read16(self.used) & 1                   # VIRTQ_USED_F_NO_NOTIFY

    def notify(self):
        self.notified_idx = self.avail_idx
        self._reg(mmio.QUEUE_NOTIFY, 0)

    def interrupted(self):
        """True if the device raised its used-buffer interrupt; acknowledges it."""
        status = self._reg(mmio.INTERRUPT_STATUS)
        if status:
            self._reg(mmio.INTERRUPT_ACK, status)
        return bool(status & mmio.USED_BUFFER)

    def reap(self):
        """The requests the device has returned since the last reap (their heads)."""
        done = []
        used_idx = self._read16(self.used + 2)
        while self.last_used != used_idx:
            slot = self.used + 4 + 8 * (self.last_used % self.size)
            head = struct.unpack("<I", self.vm.read_guest(slot, 4))[0]
            done.append(head)
            self.free += self._chain(head)
            self.last_used = (self.last_used + 1) & 0xFFFF
        return done

    def _chain(self, head):
        indexes, index = [head], head
        while True:
            flags, nxt = struct.unpack("<HH", self.vm.read_guest(self.desc + 16 * index + 12,
                                                                 4))
            if not flags & NEXT:
                return indexes
            index = nxt
            indexes.append(index)

    def set_used_event(self, index):
        """EVENT_IDX: interrupt me once the used index passes `index` (2.7.10)."""
        self._write(self.avail + 4 + 2 * self.size, "<H", index & 0xFFFF)

    def set_no_interrupt(self, on=True):
        """Without EVENT_IDX: avail.flags NO_INTERRUPT (the driver will poll)."""
        self._write(self.avail, "<H", VIRTQ_AVAIL_F_NO_INTERRUPT if on else 0)


# -- checks the student may run (public): the form of an answer, never its value ---------------

def check_count(name, value):
    """q2, q3: a count is a whole number, not negative."""
    if value is ... or value is None:
        return print(f"{name} has no answer yet: replace the ... with a number")
    if isinstance(value, bool) or not isinstance(value, int):
        return print(f"{name} must be a whole number (an int), not {type(value).__name__}")
    if value < 0:
        return print(f"{name} is negative: it counts events")
    print("ok")


def check_cycles(name, value):
    """q3: an estimate of cycles is a number, not negative."""
    if value is ... or value is None:
        return print(f"{name} has no answer yet: replace the ... with a number")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        return print(f"{name} must be a number of cycles (int or float, >= 0), not {value!r}")
    print("ok")


def check_request(value):
    """q1: hw3.NEEDS_RESET, or a list of (addr, len, 'readable' or 'writable')."""
    if value == NEEDS_RESET:
        return print("ok")
    if not isinstance(value, (list, tuple)) or not value:
        return print(f"q1 must be hw3.NEEDS_RESET or a non-empty list of "
                     f"(addr, len, direction), not {value!r}")
    for item in value:
        if (not isinstance(item, (tuple, list)) or len(item) != 3 or not all(
                isinstance(x, int) and not isinstance(x, bool) for x in item[:2])
                or item[2] not in ("readable", "writable")):
            return print(f"each buffer is a tuple (addr, len, 'readable' or 'writable'), not "
                         f"{item!r}")
    print("ok")


def check_function(io_cycles):
    """q3: io_cycles(exits, dma_bytes) is a function that returns a number."""
    if not callable(io_cycles):
        return print("io_cycles must be a function of two arguments: exits, dma_bytes")
    try:
        value = io_cycles(1, 0)
    except Exception as error:
        return print(f"io_cycles(1, 0) raised {type(error).__name__}: {error}")
    check_cycles("io_cycles(1, 0)", value)


def check_letters(q4a, q4b, q4c):
    """q4: each is one of the options' letters."""
    for name, value in (("q4a", q4a), ("q4b", q4b), ("q4c", q4c)):
        if not isinstance(value, str) or value.strip().lower() not in tuple("abcd"):
            return print(f"{name} must be one of the letters 'a' to 'd', in quotes")
    print("ok")
