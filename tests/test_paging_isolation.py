"""Isolation with guest paging on, under every technique that runs it (issue: memory
virtualization, item 7): a guest PTE that points outside the guest's RAM, at a neighbour VM's
RAM, at the VMM's own tables, or at the guest's own page table (mapped writable) never lets the
guest touch anything but its own RAM.

The attacker is tests/programs/guests/pte_script.s with its "frame 15" (normally 0x2000,
outside RAM) set to a host-physical address the attack aims at. Its script maps frame 15 at
window page 1 (V R W A D), fences, stores 0xbad at offset 0x7fc of the page and loads it back.
Whatever the VMM does, the PTE's frame number is a *guest*-physical address, so the guest gets
what the bare machine gives a kernel whose RAM is the VM's RAM (`native`, same RAM size): the
store lands in its own RAM when the number falls inside guest RAM, and is an access fault
(scause 7) otherwise. So each run is compared with native's, and host RAM is compared before
and after: every byte outside the frames the host gave the attacker is unchanged (a neighbour
VM's RAM among them), and 0xbad never appears in a frame of the VMM's own structures (0xbad is
V=1 R=0 W=1, a reserved PTE encoding no VMM table ever holds).
"""

import pytest

from test_shadow_paging import SCRIPT, SOURCE
from vmkit.asm import assemble
from vmkit.vmm.engines import ENGINES, engine_class
from vmkit.vmm.host import FRAME, Host, host_ram
from vmkit.vmm.layout import GUEST_RAM
from vmkit.vmm.vm import VirtualMachine

# Techniques with a VMM between guest and machine that run a guest's own paging (native has
# none: there the guest is the machine; the PV kernel's direct paging has tests of its own).
VMM_ENGINES = [e for e in ENGINES if engine_class(e).paging_mode and e != "native"
               and not engine_class(e).needs_pv_build]
STORE = 0xBAD
ATTACK = [(1, 1, 15 << 16 | 0xC7),          # l0a[1] = frame 15, V R W A D
          (2, -1, -1),                       # sfence.vma
          (4, 1, STORE),                     # store STORE at page 1 + 0x7fc (S-mode)
          (3, 1, 0)]                         # load word 1 of page 1 back
# The guest's own leaf table l0a (frame 13) mapped writable at page 2: the guest reads its
# page 1 PTE through it (A set by the walker: the guest must see it), writes a PTE through it
# (entry 511, outside the window), fences and goes on. Legal on the machine, and the same here.
OWN_TABLE = [(1, 1, 0 << 16 | 0x03),          # l0a[1] = frame 0, V R (no A yet)
             (1, 2, 13 << 16 | 0xC7),         # l0a[2] = l0a itself, V R W A D
             (2, -1, -1),
             (3, 1, 0),                       # load page 1: frame 0's word 1, A set in l0a[1]
             (3, 2, 0),                       # word 1 of l0a = l0a[1]: the guest sees A
             (4, 2, STORE),                   # l0a[511] = STORE, through the mapping
             (2, -1, -1),
             (3, 1, 0)]


def attacker(frame15, script):
    words = "\n".join(f"    .word {op}, {a}, {b}" for op, a, b in [*script, (0, 0, 0)])
    source = SCRIPT.sub(lambda _: f"script:\n{words}\nscript_end:", SOURCE)
    return assemble(source.replace("li t3, 0x2000", f"li t3, {frame15:#x}"), "attacker.s")


def host_with_two(engine, program):
    """A neighbour VM, then the attacker, on one host (same order, same frames every time)."""
    host = Host(ram_size=host_ram(2))
    neighbour = host.create_vm(attacker(0x2000, []), engine=engine, name="neighbour")
    return host, neighbour, host.create_vm(program, engine=engine, name="attacker")


def targets(engine):
    """Host-physical addresses worth aiming at, read off a probe host built like the real one."""
    host, neighbour, vm = host_with_two(engine, attacker(0x2000, []))
    frames = host.frames
    own_ram = {start for start, (count, owner) in frames.runs.items()
               if owner == "attacker" and count * FRAME == vm.ram_size}
    vmm = sorted(start for start, (count, owner) in frames.runs.items()
                 if owner == "attacker" and start not in own_ram)
    aims = {"past-own-ram": GUEST_RAM + vm.ram_size,
            "neighbour-ram": min(s for s, (_, o) in frames.runs.items() if o == "neighbour"),
            "host-ram-top": host.bus.ram_end - FRAME}
    aims.update({f"vmm-frame-{i}": start for i, start in enumerate(vmm[:2])})
    return aims


CASES = [(engine, name, address) for engine in VMM_ENGINES
         for name, address in targets(engine).items()]


def not_the_attackers(host):
    """Host RAM outside every frame the host handed to the attacker (its RAM, its tables)."""
    ram, base = host.bus.ram, host.bus.ram_base
    kept, at = [], 0
    for start, (count, owner) in sorted(host.frames.runs.items()):
        if owner == "attacker":
            kept.append(ram[at:start - base])
            at = start - base + count * FRAME
    return b"".join(kept) + ram[at:]


def vmm_frames_holding_the_store(host, vm):
    """Frames the host gave the attacker that are not its RAM, with STORE at offset 0x7fc."""
    ram_base = vm.engine.memory.region("ram").frames[0]      # host-physical, contiguous
    ram_frames = range(ram_base, ram_base + vm.ram_size)
    return [start for start, (count, owner) in host.frames.runs.items()
            if owner == "attacker" and start not in ram_frames
            for frame in range(start, start + count * FRAME, FRAME)
            if host.bus.load(frame + 0x7FC, 4) == STORE]


@pytest.mark.parametrize("engine, name, address", CASES,
                         ids=[f"{e}-{n}" for e, n, _ in CASES])
def test_a_pte_aimed_outside_reaches_nothing_but_guest_ram(engine, name, address):
    program = attacker(address, ATTACK)
    bare = VirtualMachine(program, engine="native")
    bare_stop = bare.run(3_000_000)
    host, neighbour, vm = host_with_two(engine, program)
    before, neighbour_ram = not_the_attackers(host), neighbour.read_guest(GUEST_RAM, 4 << 20)
    stop = vm.run(3_000_000)
    assert (stop.reason, stop.code) == (bare_stop.reason, bare_stop.code) == ("shutdown", 0)
    assert bytes(vm.console) == bytes(bare.console)
    inside = GUEST_RAM <= address < GUEST_RAM + vm.ram_size
    if inside:    # the number names a page of its own RAM: the store is there, as on the machine
        assert vm.read_guest(address + 0x7FC, 4) == STORE.to_bytes(4, "little")
    else:         # nothing there: a store access fault, stval the virtual address
        assert b"T 00000007\nV 400017fc\n" in bytes(vm.console)
    assert not_the_attackers(host) == before
    assert neighbour.read_guest(GUEST_RAM, 4 << 20) == neighbour_ram
    assert vmm_frames_holding_the_store(host, vm) == []


@pytest.mark.parametrize("engine", VMM_ENGINES)
def test_the_guests_own_table_mapped_writable_behaves_as_on_the_machine(engine):
    """Writing its own leaf table through a writable mapping is legal on the machine; after the
    fence the new translation holds. Under shadow paging the VMM learns of it at the fence."""
    program = attacker(0x2000, OWN_TABLE)
    bare = VirtualMachine(program, engine="native")
    bare.run(3_000_000)
    host, _, vm = host_with_two(engine, program)
    before = not_the_attackers(host)
    assert vm.run(3_000_000).reason == "shutdown"
    assert bytes(vm.console) == bytes(bare.console)
    assert b"L 11111111" in bytes(vm.console)          # page 1 shows frame 0's word 1
    assert vm.read_guest(GUEST_RAM, vm.ram_size) == bare.read_guest(GUEST_RAM, vm.ram_size)
    assert not_the_attackers(host) == before
