"""The emulated NIC (vmkit/vmm/io/ne2000.py, NE2000 / DP8390 style) and its driver
(vmkit/guest/ne2000.inc): a guest sends and echoes frames through the card's data port; the card
driven from Python, and with hostile register sequences.
"""

import subprocess
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import need_tool, no_pyodide
from vmkit.asm import assemble
from vmkit.guest import INCLUDES
from vmkit.hw.bus import BusError
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.io import ne2000 as N
from vmkit.vmm.io.ne2000 import Ne2000Nic
from vmkit.vmm.vm import VirtualMachine

ENGINE_NAMES = sorted(ENGINES)
SIZES = st.sampled_from((1, 2, 4, 3, 8))


ECHO = """
        .equ    PV, {pv}
        .include "priv.inc"
        .include "sbi.inc"
        .include "uart.inc"
        .include "ne2000.inc"
        .text
_start: la      sp, kernel_stack_top
        la      t0, trap_vector
        priv_csrw stvec, t0
        call    net_init
        bnez    a0, fail
        la      a0, hello                  # a 19-byte broadcast: the card pads it to 60
        li      a1, 19
        call    net_send
        bnez    a0, fail
1:      la      a0, frame                  # wait for a frame ...
        call    net_receive
        bnez    a0, 2f
        priv_wfi
        call    net_ack
        j       1b
2:      mv      a1, a0                     # ... and send it back as it came
        la      a0, frame
        call    net_send
        bnez    a0, fail
        la      a0, done
        call    puts
        sbi_shutdown SRST_SUCCESS
fail:   sbi_shutdown SRST_FAILURE
        .balign 4
trap_vector:
        j       panic_trap
        .data
        .balign 4
hello:  .byte   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x88, 0xb5
        .ascii  "hello"
done:   .asciz  "net: echoed\\n"
        .bss
        .balign 4
frame:  .space  1520
        .balign 16
        .space  2048
kernel_stack_top:
        .include "console.inc"
"""
MAC = bytes.fromhex("525400123456")
HELLO = b"\xff" * 6 + MAC + b"\x88\xb5hello"


class Backend:
    def __init__(self):
        self.frames = []

    def transmit(self, frame):
        self.frames.append(frame)


def echo_guest(engine):
    pv = int(ENGINES[engine].needs_pv_build)
    program = assemble(ECHO.format(pv=pv), "echo.s")
    if pv:
        program.entry = program.symbols["pv_boot"]
    nic, backend = Ne2000Nic(MAC), Backend()
    nic.backend = backend
    return VirtualMachine(program, engine=engine, io=[nic]), nic, backend


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_nic_send_and_receive(engine):
    """The guest's 19-byte frame reaches the backend padded with zeros to 60 bytes; it then
    waits in wfi (no timer: the run stops with "wfi"); a 114-byte frame for its MAC, delivered
    from Python, wakes it (one interrupt: PRX) and comes back bit-identical."""
    vm, nic, backend = echo_guest(engine)
    assert vm.run(1_000_000).reason == "wfi"
    assert backend.frames == [HELLO + bytes(60 - len(HELLO))]
    frame = MAC + bytes.fromhex("020000000001") + b"\x08\x00" + bytes(range(100))
    assert nic.deliver(frame)
    stop = vm.run(1_000_000)
    assert (stop.reason, stop.code) == ("shutdown", 0), (stop, bytes(vm.console))
    assert backend.frames[1:] == [frame]
    assert bytes(vm.console) == b"net: echoed\n"
    assert vm.counters.interrupts_injected == 1
    assert nic.rx_frames == 1 and nic.tx_frames == 2


@no_pyodide
def test_drivers_assemble_with_gnu_as(tmp_path):
    """GNU as + ld, given vmkit's section addresses, produce the same bytes for the echo guest
    (ne2000.inc)."""
    gas, ld = need_tool("riscv64-unknown-elf-as"), need_tool("riscv64-unknown-elf-ld")
    objcopy = need_tool("riscv64-unknown-elf-objcopy")
    source = ECHO.format(pv=0)
    program = assemble(source, "echo.s")
    folder = resources.files("vmkit.guest")
    for include in INCLUDES:
        (tmp_path / include).write_text(folder.joinpath(include).read_text())
    (tmp_path / "echo.s").write_text(source)
    subprocess.run([gas, "-march=rv32ima_zicsr", "-mabi=ilp32", "-mno-relax", "-I",
                    str(tmp_path), "-o", str(tmp_path / "echo.o"), str(tmp_path / "echo.s")],
                   check=True, capture_output=True)
    addresses = {s.name: s.address for s in program.sections}
    subprocess.run([ld, "-m", "elf32lriscv", "--no-relax", "--no-warn-rwx-segments",
                    "-Ttext", hex(addresses[".text"]), "-Tdata", hex(addresses[".data"]),
                    "-Tbss", hex(program.bss[0]), "-o", str(tmp_path / "echo.elf"),
                    str(tmp_path / "echo.o")], check=True, capture_output=True)
    for section in program.sections:
        out = tmp_path / f"{section.name[1:]}.bin"
        subprocess.run([objcopy, "-O", "binary", "-j", section.name, str(tmp_path / "echo.elf"),
                        str(out)], check=True, capture_output=True)
        assert out.read_bytes() == bytes(section.data), section.name


# -- the NIC, driven from Python --------------------------------------------------------------------

def started_nic(rcr=0, pstart=0x46, pstop=0x80):
    """A card set up as ne2000.inc does: ring pstart..pstop, BNRY = pstart, CURR = pstart + 1."""
    nic = Ne2000Nic(MAC)
    for offset, value in ((N.CR, 0x21), (N.PSTART, pstart), (N.PSTOP, pstop), (N.BNRY, pstart),
                          (N.RCR, rcr), (N.IMR, N.ISR_PRX)):
        nic.write(offset, 1, value)
    nic.write(N.CR, 1, 0x61)                               # page 1
    for n, byte in enumerate(MAC):
        nic.write(1 + n, 1, byte)
    nic.write(N.CURR, 1, pstart + 1)
    nic.write(N.CR, 1, 0x22)                               # started, page 0
    return nic


def test_prom_holds_the_mac_twice_over():
    nic = Ne2000Nic("52:54:00:12:34:56")
    nic.write(N.RBCR0, 1, 32)
    nic.write(N.CR, 1, 0x0A)                               # remote read from card address 0
    prom = bytes(nic.read(N.DATA_PORT, 1) for _ in range(32))
    assert prom[:12] == bytes(b for byte in MAC for b in (byte, byte))
    assert prom[28:32] == b"\x57" * 4
    assert nic.read(N.ISR, 1) & N.ISR_RDC


def test_ring_full_drops_and_counts():
    """A ring of 4 pages (0x46..0x4A): CURR starts at 0x47 with BNRY 0x46, so 3 pages are free
    and the card may fill only 2 (it never reaches page BNRY). A 300-byte frame takes
    ceil(304 / 256) = 2 pages: the first fits, the second is dropped, counted in rx_dropped and
    CNTR2 (which a read clears)."""
    nic = started_nic(pstop=0x4A)
    frame = MAC + bytes(294)
    assert nic.deliver(frame) and not nic.deliver(frame)
    assert (nic.rx_frames, nic.rx_dropped) == (1, 1)
    assert nic.read(N.CNTR2, 1) == 1 and nic.read(N.CNTR2, 1) == 0
    header = nic.memory[0x4700:0x4704]
    assert list(header) == [N.RSR_PRX, 0x49, 304 & 0xFF, 304 >> 8]
    assert nic.memory[0x4704:0x4704 + 300] == frame


def test_receive_filter_sizes_and_no_backend():
    nic = started_nic()
    other = bytes.fromhex("525400999999") + bytes(60)
    broadcast = b"\xff" * 6 + bytes(60)
    assert not nic.deliver(other) and not nic.deliver(broadcast)   # RCR.AB = 0
    assert nic.rx_dropped == 0                                    # ignored, not dropped
    assert not nic.deliver(MAC + bytes(1509)) and not nic.deliver(b"")  # 1515 bytes, empty
    assert nic.rx_dropped == 2
    short = MAC + b"\x01\x02"
    assert nic.deliver(short)                                     # padded to 60
    assert nic.memory[0x4702] == 64 and nic.memory[0x4704:0x4704 + 60] == short + bytes(52)
    nic.write(N.TBCR0, 1, 10)
    nic.write(N.CR, 1, 0x26)                                      # transmit, no backend
    assert nic.tx_dropped == 1 and nic.read(N.ISR, 1) & N.ISR_PTX


NIC_OFFSETS = st.one_of(st.sampled_from(list(range(0x10)) + [0x10, 0x1F]),
                        st.integers(0, 0xFFF))
NIC_VALUES = st.one_of(st.sampled_from((0x0A, 0x12, 0x21, 0x22, 0x26, 0x61, 0x62, 0x40, 0x46,
                                        0x80, 0xFF, 0)), st.integers(0, 0xFFFFFFFF))
NIC_STEPS = st.lists(st.one_of(st.tuples(st.booleans(), NIC_OFFSETS, SIZES, NIC_VALUES),
                               st.binary(max_size=1600)), max_size=300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(NIC_STEPS)
def test_hostile_register_sequences_nic(steps):
    """Random register accesses and frames from the wire: nothing raises but the access fault
    (BusError), the card's memory keeps its size and its PROM, every frame sent is 60..1514
    bytes, and the interrupt line is only ever signalled high."""
    nic = Ne2000Nic(MAC)
    prom = bytes(nic.memory[:32])
    backend, signals = Backend(), []
    nic.backend = backend
    nic.plug(None, signals.append)
    for step in steps:
        if isinstance(step, bytes):
            nic.deliver(step)
            continue
        is_write, offset, size, value = step
        try:
            if is_write:
                nic.write(offset, size, value)
            else:
                assert 0 <= nic.read(offset, size) < 1 << (8 * size)
        except BusError:
            pass
    assert len(nic.memory) == N.MEMORY and bytes(nic.memory[:32]) == prom
    assert all(N.MIN_FRAME <= len(frame) <= N.MAX_FRAME for frame in backend.frames)
    assert set(signals) <= {True}
