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


# The ways the engines virtualize a guest's own paging (Engine.paging_mode), registry order.
PAGING_MODES = tuple(dict.fromkeys(e.paging_mode for e in ENGINES.values() if e.paging_mode))


def offering(paging_mode):
    """The names of the engines whose `paging_mode` is `paging_mode`, in registry order; a
    clear ValueError for a mode no engine offers."""
    if paging_mode not in PAGING_MODES:
        raise ValueError(f"unknown paging mode {paging_mode!r}; choose one of "
                         f"{', '.join(PAGING_MODES)}")
    return tuple(name for name, e in ENGINES.items() if e.paging_mode == paging_mode)


__all__ = ["ENGINES", "Engine", "PAGING_MODES", "engine_class", "offering"]
