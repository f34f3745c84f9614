"""The CPU-virtualization techniques, one module each, behind one interface (engine.py).

    native   the yardstick: the kernel in real S-mode, the VMM as its firmware
    emulate  pure emulation: a software CPU in the VMM interprets every guest instruction
    trap     trap-and-emulate: the kernel deprivileged to U-mode, privileged instructions
             trap and the VMM emulates them on a vCPU record
    pv       paravirtualization: the kernel's source calls the VMM (hypercalls, a shared page)
    bt       binary translation: kernel code rewritten into a translation cache first
    hw       hardware-assisted: VS-mode with G-stage translation (x86: VT-x + EPT)

`ENGINES` is the registry, in the lecture's order: everything else (the lab, the CLI, the
widgets) discovers the engines and their capabilities from it.
"""

from .bt import BtEngine
from .emulate import EmulateEngine
from .engine import Engine
from .hw import HwEngine
from .native import NativeEngine
from .pv import PvEngine
from .trap import TrapEngine

ENGINES = {engine.name: engine for engine in
           (NativeEngine, EmulateEngine, TrapEngine, BtEngine, PvEngine, HwEngine)}


def engine_class(name):
    """The engine class registered as `name`; a clear ValueError for any other name."""
    if not isinstance(name, str) or name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    return ENGINES[name]


__all__ = ["ENGINES", "Engine", "engine_class"]
