"""The hypervisor (VMM): runs a guest on the simulated host machine, KVM-style.

    vm = VirtualMachine(program, engine="hw")
    result = vm.run(1_000_000)             # run, match the exit reason, handle, repeat

* `vm.py`       - the VirtualMachine and its run loop (the KVM_RUN loop's upper half)
* `exits.py`    - why the guest stopped (ExitReason, VmExit) and how a run ended (VmStop)
* `layout.py`   - the guest-physical memory map every VM sees
* `sbi.py`      - the firmware interface a guest kernel calls (SBI: console, timer, reset)
* `io.py`       - emulated devices: MMIO accesses that exited, decoded and completed
* `engines/`    - the CPU-virtualization techniques, one module each, behind the Engine
                  interface (engines/engine.py) and the registry ENGINES
* `costs.py`    - counters -> estimated cycles
"""
