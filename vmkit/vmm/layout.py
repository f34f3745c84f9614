"""The guest-physical memory map every VM sees (x86: the PC's physical address map a VMM
presents, e.g. QEMU's `q35`): RAM at 0x8000_0000, a 16550 UART at 0x1000_0000 and a PLIC at
0x0C00_0000 (irq.py), as on QEMU `virt`; nothing else.
Where the RAM sits in host-physical memory is each engine's business.
"""

from vmkit.hw.devices import VIRT_MEMORY_MAP

GUEST_RAM = 0x8000_0000
GUEST_UART = VIRT_MEMORY_MAP["uart0"][0]
GUEST_PLIC = VIRT_MEMORY_MAP["plic"][0]
# The most guest RAM a VM may have: with its page tables (and bt's translation cache) it fits
# a private 32 MiB host (engines/base.py); a shared Host is sized for all of its VMs.
MAX_GUEST_RAM = 16 << 20
