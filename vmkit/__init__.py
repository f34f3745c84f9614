"""vmkit: a workbook for learning how virtualization works.

The core (this package) is pure Python, standard library only, and runs in Pyodide:

* `vmkit.isa`   - the RISC-V instruction and CSR tables (decode, encode, disassemble)
* `vmkit.asm`   - an assembler for the GNU as syntax -> program image / ELF32
* `vmkit.disasm`- objdump-style disassembly
* `vmkit.elf`   - ELF32 reading and writing
* `vmkit.hw`    - the simulated host machine (RV32 hart with the H extension, MMU, devices)
* `vmkit.vmm`   - the hypervisor and its five CPU-virtualization techniques
"""

__version__ = "0.1.0"
