"""The hypervisor (VMM): runs a guest on the simulated host machine, KVM-style.

    vm = VirtualMachine(program, engine="hw")
    result = vm.run(1_000_000)             # run, match the exit reason, handle, repeat

* `vm.py`       - the VirtualMachine and its run loop (the KVM_RUN loop's upper half)
* `exits.py`    - why the guest stopped (ExitReason, VmExit) and how a run ended (VmStop)
* `layout.py`   - the guest-physical memory map every VM sees
* `sbi.py`      - the firmware interface a guest kernel calls (SBI: console, timer, reset)
* `io.py`       - emulated devices: MMIO accesses that exited, decoded and completed
* `irq.py`      - the guest's interrupt controller (a PLIC at the virt address) and its line
* `snapshot.py` - save and restore a whole VM (a versioned file: JSON header + compressed body)
* `engines/`    - the CPU-virtualization techniques, one module each, behind the Engine
                  interface (engines/engine.py) and the registry ENGINES
* `costs.py`    - counters -> estimated cycles

Several VMs on one host (host = Host(); host.create_vm(...); host.run(n)):

* `host.py`          - the host: one machine, its frame allocator, VMID/ASID allocators, VMs
* `memory.py`        - GuestMemory: guest-physical regions backed by host frames, map_pages,
                       the dirty log
* `scheduler.py`     - vCPUs on the one hart in slices: round robin or Xen-style credit
* `worldswitch.py`   - the hart's context out and in when another VM's turn comes
* `consolidation.py` - host utilization with and without consolidation
"""
