"""The hypervisor (VMM): runs a guest on the simulated host machine, KVM-style.

    vm = VirtualMachine(program, engine="hw")
    result = vm.run(1_000_000)             # run, match the exit reason, handle, repeat

* `vm.py`       - the VirtualMachine and its run loop (the KVM_RUN loop's upper half)
* `sbi.py`      - the firmware interface a guest kernel calls (SBI: console, timer, reset)
* `io.py`       - emulated devices: MMIO accesses that exited, decoded and completed
* `engines/`    - the CPU-virtualization techniques, one module each
* `costs.py`    - counters -> estimated cycles
"""
