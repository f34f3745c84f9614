"""Homework 3's answer key (instructors only: it goes into the autograder, never to students).

Every answer is computed by running vmkit's device models, so it follows the simulator: q1 is
what `Virtqueue.pop` takes from the seed's table and ring placed in a VM's RAM (a
`VirtqueueError` is "device needs reset"); q2 runs hw3.Driver against `VirtioBlk` with the
policy the question describes and counts the doorbell writes the device counted and the
interrupts it raised; q3's virtio figure prices a run of one batch by its counters (the
notifications and the device's DMA bytes) with cost_model("modern"). q3's emulated disk is
counted from the protocol the question describes (`pio_accesses`, reasoned below; most seeds'
protocols are not vmkit's ATA disk, whose registers are fixed), and priced by the cost model
on those counters; the tests drive vmkit/vmm/io/ata.py with the seeds whose protocol is its.
q4 are the letters the seed gave the right options (each question's first in hw3.Q4_QUESTIONS).
tests/test_homework.py checks the key against the reasoning of the lecture.

    python3 hw3_key.py --id AB12CD -c     # the questions of a student and their answers (OSTEP -c)
    python3 hw3_key.py --seed 7 -c
"""

import argparse
import functools

import hw3
from vmkit.vmm.costs import cost_model
from vmkit.vmm.io.dma import GuestDma
from vmkit.vmm.io.virtqueue import Virtqueue, VirtqueueError
from vmkit.vmm.vm import VirtualMachine

MODEL = cost_model("modern")
TOLERANCE = 0.05                 # q3_virtio: an estimate that leaves out the rings' few bytes


@functools.cache
def _vm():
    return VirtualMachine(hw3.idle_program(), engine="native")


def next_request(variant):
    """q1: what the device takes from the seed's queue, by Virtqueue.pop on its bytes."""
    vm = _vm()
    table, avail = variant.q1_bytes()
    used = hw3.QUEUE + 0x1000
    assert vm.write_guest(hw3.QUEUE, bytes(0x2000))
    assert vm.write_guest(hw3.QUEUE, table) and vm.write_guest(hw3.QUEUE + 0x100, avail)
    queue = Virtqueue(GuestDma(vm), hw3.Q1_SIZE, hw3.QUEUE, hw3.QUEUE + 0x100, used)
    queue.last_avail = variant.q1_taken
    try:
        chain = queue.pop()
    except VirtqueueError:
        return hw3.NEEDS_RESET
    return [(b.addr, b.length, "writable" if b.writable else "readable")
            for b in chain.readable + chain.writable]


def run_batches(requests, batch, queue_size, mode):
    """q2: (notifications, interrupts) of the question's driver, run against VirtioBlk."""
    driver = hw3.Driver(queue_size, event_idx=mode.startswith("event-idx"))
    if mode == "no-interrupt":
        driver.set_no_interrupt(True)
    if mode == "event-idx once":
        driver.set_used_event(requests - 1)
    interrupts, posted = 0, 0

    def kick():
        nonlocal interrupts
        if not driver.event_idx or driver.notify_needed():
            driver.notify()
        interrupts += driver.interrupted()
        driver.reap()
    while posted < requests:
        size = min(batch, requests - posted)
        if mode == "event-idx per batch":
            driver.set_used_event(posted + size - 1)
        for _ in range(size):
            if not driver.post(posted % 64):
                kick()
                assert driver.post(posted % 64)
            posted += 1
        kick()
    assert driver.device.requests == requests and not driver.device.broken
    return driver.device.notifications, interrupts


def pio_accesses(variant):
    """q3: register accesses of one 4 KiB read by the question's protocol: the setup (LBA
    registers, sector count, command) once or once per sector, and per sector the status
    polls, 512 bytes through the data register, one status read that acknowledges it."""
    setup = variant.lba_registers + 2
    per_sector = variant.busy_polls + hw3.SECTOR // variant.data_width + 1
    return (setup if variant.one_command else 8 * setup) + 8 * per_sector


def io_counters(exits, dma_bytes):
    """Counters of I/O alone: `exits` MMIO exits, each to the device model, and DMA bytes."""
    return {"exits": {"mmio": exits}, "device_exits": exits, "dma_bytes": dma_bytes}


def reference_io_cycles(exits, dma_bytes):
    """The solution of q3's function: the cost model on those counters, exits as VM exits."""
    return MODEL.total(io_counters(exits, dma_bytes), vm_exits=True)


def virtio_batch(batch):
    """(notifications, DMA bytes) of one batch of 4 KiB reads through VirtioBlk."""
    driver = hw3.Driver(32)
    for sector in range(batch):
        assert driver.post(8 * sector)
    driver.notify()
    driver.interrupted()
    assert len(driver.reap()) == batch
    return driver.device.notifications, driver.vm.counters.dma_bytes


@functools.cache
def _q2(requests, batch, queue_size, mode):
    return run_batches(requests, batch, queue_size, mode)


def answers(seed):
    v = hw3.Variant(seed)
    notes, first = _q2(v.q2_requests, v.q2_batch, v.q2_queue, v.q2_modes[0])
    notes2, second = _q2(v.q2_requests, v.q2_batch, v.q2_queue, v.q2_modes[1])
    assert notes == notes2
    accesses = pio_accesses(v)
    notifications, dma = virtio_batch(v.q3_batch)
    letters = {name: "abcd"[v.q4_options[name].index(Q4_RIGHT[name])] for name in Q4_RIGHT}
    return {"q1": next_request(v), "q2_notifications": notes, "q2_interrupts_a": first,
            "q2_interrupts_b": second, "q3_accesses": accesses,
            "q3_emulated": reference_io_cycles(accesses, 0),
            "q3_virtio": reference_io_cycles(notifications, dma) / v.q3_batch, **letters}


Q4_RIGHT = {name: options[0] for name, (_, options) in hw3.Q4_QUESTIONS.items()}


def check(name, value, student_id):
    """True when `value` answers question `name` of this student's variant. Prints a hint (never
    the answer) when it does not: the student reads it in the graded report."""
    expected = answers(hw3.seed_of(student_id))[name]
    if name.startswith("q4") and isinstance(value, str):
        value = value.strip().lower()
    if name == "q1" and isinstance(value, (list, tuple)):         # as the public check takes it
        value = [tuple(item) if isinstance(item, list) else item for item in value]
    if name in ("q3_emulated", "q3_virtio"):
        right = (not isinstance(value, bool) and isinstance(value, (int, float))
                 and abs(value - expected) <= (1 if name == "q3_emulated"
                                               else TOLERANCE * expected))
    else:
        right = type(value) is type(expected) and value == expected
    if not right:
        print(HINTS[name])
    return right


def check_io_cycles(io_cycles, student_id):
    """q3's function, on the counters of the seed's two runs and of a few more. What it says
    names a case, never its counters: the emulated one is q3_accesses."""
    v = hw3.Variant(hw3.seed_of(student_id))
    cases = {"your emulated read": (pio_accesses(v), 0),
             "your virtio batch": virtio_batch(v.q3_batch),
             "4096 DMA bytes, no exit": (0, 4096), "3 exits, no DMA": (3, 0),
             "2 exits and 100 DMA bytes": (2, 100)}
    for case, (exits, dma_bytes) in cases.items():
        try:
            value = io_cycles(exits, dma_bytes)
        except Exception as error:
            print(f"q3: io_cycles raised {type(error).__name__} on {case}")
            return False
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or abs(value - reference_io_cycles(exits, dma_bytes)) > 1):
            print(f"q3: io_cycles is not what the cost model gives on {case}: "
                  + HINTS["q3_function"])
            return False
    return True


HINTS = {
    "q1": "q1: start at ring[last_avail % size], follow next only while NEXT is set, and check "
          "the rules the device checks (virtio 1.2, 2.7.4.2 and 2.7.5): a chain no longer than "
          "the table, indices inside it, readable buffers before writable ones.",
    "q2_notifications": "q2_notifications: one per batch, plus one each time the driver runs "
                        "out of descriptors in the middle of a batch (3 per request).",
    "q2_interrupts_a": "q2_interrupts_a: the device interrupts after serving requests when the "
                       "driver's flags or used_event (vring_need_event) ask for it; count per "
                       "notification.",
    "q2_interrupts_b": "q2_interrupts_b: the device interrupts after serving requests when the "
                       "driver's flags or used_event (vring_need_event) ask for it; count per "
                       "notification.",
    "q3_accesses": "q3_accesses: count every register read and write of the protocol: the "
                   "setup (once or per sector?), the status polls, the data register (512 "
                   "bytes / its width), the acknowledging status read.",
    "q3_emulated": "q3_emulated: each register access is a VM exit and a trip to the device "
                   "model; the emulated disk moves no data by DMA.",
    "q3_virtio": "q3_virtio: one notification per batch, shared by its requests, and every "
                 "byte the device copies (the 4 KiB of data, and a little for the rings) at "
                 "dma_byte.",
    "q3_function": "each exit is priced vm_exit + device_model (cost_model('modern')"
                   ".constants), each DMA byte dma_byte.",
    "q4a": "q4a: who checks the addresses a device uses for DMA?",
    "q4b": "q4b: what does one physical device show the PCI bus under SR-IOV?",
    "q4c": "q4c: an MSI is a memory write the device makes: who may it reach?",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--id", help="a student ID (the seed is its hash)")
    who.add_argument("--seed", type=int)
    parser.add_argument("-c", action="store_true", help="compute the answers too")
    args = parser.parse_args()
    seed = hw3.seed_of(args.id) if args.id is not None else args.seed
    print(f"seed {seed}\n\n{hw3.Variant(seed).text()}\n")
    if args.c:
        print("answers:", answers(seed), "(q3_function: reference_io_cycles)")


if __name__ == "__main__":
    main()
