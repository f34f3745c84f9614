"""The guest software: assembly sources shipped as package data, assembled by vmkit.asm.

* ``tinyos``: a teaching kernel (S-mode, two U-mode tasks, syscalls, timer preemption).
* ``syscall``, ``io``, ``csr``, ``callret``, ``trapinsn``: microbenchmarks after Adams & Agesen
  (ASPLOS 2006), each repeating one operation ITERATIONS times.
* ``pagefault``, ``ptemod``, ``ctxswitch``, ``forkwait``: their memory microbenchmarks, user
  programs on ``pgkernel.inc`` (tinyos with Sv32 paging: a page table and an ASID per task,
  demand-zero pages, brk, fork, wait, mprotect). They turn paging on: `PAGING` lists them.
* ``disk`` (an I/O workload: it needs a disk, `IO_WORKLOADS`): writes ITERATIONS sectors,
  flushes, reads them back and compares, through the driver chosen by `build(..., disk=...)`:
  virtio-blk (``virtio.inc``, ``virtio_blk.inc``) or the emulated ATA-style disk (``ata.inc``).
* ``dmaattack`` (not a workload: `ATTACK`): a guest that aims its disk's DMA at TARGET, another
  VM's memory (vmm/io/passthrough.py, notebook 07); build it with `equates`.
* ``ping``, ``echo`` (not workloads: each needs the other): two kernels with a virtio-net
  driver (``virtio_net.inc``) that exchange ITERATIONS frames through a virtual switch
  (vmkit/vmm/io/switch.py): ping sends "ping i", echo answers "pong i".
* ``touch`` (not a workload: no loop, no output): one load from a fresh page on a cold TLB,
  the access whose page walk vmkit/pagewalk.py and notebook 06 show step by step.

Shared include files: ``priv.inc`` (every privileged instruction, as a macro: the one place the
paravirtual build will change), ``mmu.inc`` (the same for every page-table write, satp write
and sfence.vma), ``sbi.inc``, ``uart.inc``, ``console.inc``, ``micro.inc``, ``pgkernel.inc``, ``virtio_net.inc``.

    >>> from vmkit.vmm.vm import VirtualMachine
    >>> vm = VirtualMachine(build("callret", iterations=10), engine="native")
    >>> vm.run().reason, bytes(vm.console)
    ('shutdown', b'callret: 10 iterations done\\n')
"""

from importlib import resources

WORKLOADS = ("tinyos", "syscall", "io", "csr", "callret", "trapinsn",
             "pagefault", "ptemod", "ctxswitch", "forkwait")
PAGING = ("pagefault", "ptemod", "ctxswitch", "forkwait")     # the guests that turn paging on
TOUCH = "touch"                 # the one-access guest of the walk diagrams
IO_WORKLOADS = ("disk",)        # guests that need an I/O device (vmkit.vmm.io) attached
ATTACK = "dmaattack"            # the DMA attack of notebook 07
DISK_DRIVERS = {"virtio": 1, "emulated": 0}       # build(..., disk=): DISK_DRIVER in disk.s
INCLUDES = ("priv.inc", "mmu.inc", "sbi.inc", "uart.inc", "console.inc", "micro.inc",
            "pgkernel.inc", "virtio.inc", "virtio_blk.inc", "ata.inc", "plic.inc",
            "virtio_net.inc", "ne2000.inc")
NETWORK = ("ping", "echo")      # the two ends of a virtio-net exchange (run them together)


def source(name) -> str:
    """The assembly text of workload `name`, or of `TOUCH` (read from package data, so it works
    from a wheel)."""
    if name not in WORKLOADS + IO_WORKLOADS + NETWORK + (TOUCH, ATTACK):
        raise ValueError(f"unknown workload {name!r}; choose one of "
                         f"{', '.join(WORKLOADS + IO_WORKLOADS + NETWORK)}")
    return resources.files(__name__).joinpath(f"{name}.s").read_text(encoding="utf-8")


def build(name, iterations=None, pv=False, console_sbi=False, disk=None, batch=None,
          equates=None):
    """Assemble workload `name` into a `vmkit.asm.Program` for guest RAM at 0x8000_0000.

    `iterations` overrides the source's ITERATIONS (loop trips; for tinyos, the lines task A
    prints), `console_sbi` prints through the SBI debug console instead of the UART. `pv`
    builds the paravirtual kernel (priv.inc and mmu.inc with PV = 1) for the `pv` engine; it
    starts at `pv_boot`, which registers the shared vCPU page before jumping to `_start`.
    (The PV build of the PAGING workloads pages through mmu.inc's direct-paging hypercalls,
    vmkit/vmm/direct.py, and prints through the SBI console: the VMM maps it no device.)
    `disk` ("virtio" or "emulated") picks the disk workload's driver, `batch` how many
    virtio-blk requests share one doorbell (default 8). `equates`: more `.equ NAME, value`
    settings, e.g. {"TARGET": 0x8100_0000} for the attack guest.
    """
    from vmkit.asm import assemble                 # not at import time: vmkit.asm is larger
    text = source(name)
    settings = [".equ PV, 1"] if pv else []
    if iterations is not None:
        if type(iterations) is not int or not 1 <= iterations < 1 << 31:
            raise ValueError(f"iterations must be an integer from 1 to {(1 << 31) - 1}, "
                             f"not {iterations!r}")
        settings.append(f".equ ITERATIONS, {iterations}")
    if console_sbi:
        settings.append(".equ CONSOLE_SBI, 1")
    if disk is not None:
        if disk not in DISK_DRIVERS:
            raise ValueError(f"disk must be one of {', '.join(DISK_DRIVERS)}, not {disk!r}")
        settings.append(f".equ DISK_DRIVER, {DISK_DRIVERS[disk]}")
    if batch is not None:
        if type(batch) is not int or not 1 <= batch <= 10:
            raise ValueError(f"batch must be an integer from 1 to 10, not {batch!r}")
        settings.append(f".equ BATCH, {batch}")
    for symbol, value in (equates or {}).items():
        if not str(symbol).isidentifier() or type(value) is not int or not 0 <= value < 1 << 32:
            raise ValueError(f"an equate is a name and a 32-bit unsigned value, not "
                             f"{symbol!r} = {value!r}")
        settings.append(f".equ {symbol}, {value}")
    # The settings go on the first line, separated by ';', so that the source's line numbers
    # in error messages stay right.
    prefix = "; ".join(settings) + "; " if settings else ""
    program = assemble(prefix + text, f"{name}.s")
    if pv:
        program.entry = program.symbols["pv_boot"]
    return program
