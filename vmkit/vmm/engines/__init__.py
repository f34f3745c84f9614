"""The CPU-virtualization techniques, one module each, behind one interface (base.py).

    native   the yardstick: the kernel in real S-mode, the VMM as its firmware
    emulate  pure emulation: a software CPU in the VMM interprets every guest instruction
    trap     trap-and-emulate: the kernel deprivileged to U-mode, privileged instructions
             trap and the VMM emulates them on a vCPU record
    pv       paravirtualization: the kernel's source calls the VMM (hypercalls, a shared page)
    bt       binary translation: kernel code rewritten into a translation cache first
    hw       hardware-assisted: VS-mode with G-stage translation (x86: VT-x + EPT)
"""

from .bt import BtEngine
from .emulate import EmulateEngine
from .hw import HwEngine
from .native import NativeEngine
from .pv import PvEngine
from .trap import TrapEngine

ENGINES = {"native": NativeEngine, "emulate": EmulateEngine, "trap": TrapEngine,
           "bt": BtEngine, "pv": PvEngine, "hw": HwEngine}
