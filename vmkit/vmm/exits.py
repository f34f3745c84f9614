"""VM exits: why the guest stopped running and the VMM got control back (x86: VM exit; KVM:
`kvm_run.exit_reason`), and how a run ended.

An engine's `enter` returns a `VmExit` whose `kind` is an `ExitReason`; the run loop in vm.py
dispatches on it. `ExitReason` is a `StrEnum`, so a reason equals its old string ("mmio") and
the counters keep string keys (costs.py and the notebooks read counters["exits"]["mmio"]).
When each one happens, in words, is lab.EXIT_REASONS (the glossary the notebooks print).
"""

import os
import traceback as tb
from dataclasses import dataclass
from enum import StrEnum


class ExitReason(StrEnum):
    # Exits the VMM must act on (vm.py's run loop):
    SBI = "sbi"                    # firmware call from the guest kernel: VMCALL, KVM_EXIT_HYPERCALL
    MMIO = "mmio"                  # device access: EPT violation -> KVM_EXIT_MMIO (KVM_EXIT_IO)
    VIRTUAL_INSTRUCTION = "virtual_instruction"   # hypervisor instruction in the guest: VMX
    #                                               instruction exit (VMREAD ...), #UD injected
    FAULT = "fault"                # jump outside guest RAM: EPT violation on a fetch
    WFI = "wfi"                    # waits for an interrupt: HLT exit, KVM_EXIT_HLT
    ERROR = "error"                # the VMM cannot go on: KVM_EXIT_INTERNAL_ERROR, triple fault
    # Exits the engine has already handled itself; counted, nothing more to do:
    ILLEGAL_INSTRUCTION = "illegal_instruction"   # privileged instruction emulated: #GP in
    #                                               ring 1/3 (software VMM); VT-x: CR/MSR exits
    ECALL = "ecall"                # the guest's own syscall reflected: INT 0x80 caught by a
    #                                software VMM (no exit under VT-x)
    EXCEPTION = "exception"        # a guest exception reflected: exception/NMI exit (#PF, #UD)
    INTERRUPT = "interrupt"        # virtual interrupt delivered: event injection at VM entry
    PAGE_FAULT = "page_fault"      # trap: a hidden fault, the VMM filled its shadow page table
    #                                (vmm/shadow.py): #PF exit under shadow paging
    HYPERCALL = "hypercall"        # pv: a call the kernel makes on purpose: Xen hypercall
    # Not exits: the run loop's bookkeeping, never counted in counters["exits"]:
    BUDGET = "budget"              # the time slice ran out: VMX-preemption timer exit
    IDLE = "idle"                  # the hart itself slept in wfi: HLT without HLT exiting
    CALLOUT = "callout"            # bt: translated code called the VMM, no trap: VMware callout


# Kinds that are no transition into the VMM: the run loop does not count them as exits.
NOT_EXITS = frozenset({ExitReason.BUDGET, ExitReason.IDLE, ExitReason.CALLOUT})

STORM = ("the guest takes trap after trap without retiring an instruction "
         "(is its trap vector valid?)")


@dataclass
class VmExit:
    """Why `Engine.enter` returned (x86: a VM exit; KVM: kvm_run.exit_reason)."""
    kind: ExitReason             # what the VMM must do
    gpa: int = 0                 # mmio: the guest-physical address
    word: int = 0                # mmio/illegal: the instruction
    trap: object = None          # fault: the exception to give the guest
    message: str = ""
    callout: bool = False        # bt: the translated code called the VMM; no trap, no exit
    traceback: str = ""          # error: the Python traceback, when vmkit itself failed


@dataclass
class VmStop:
    """How a run ended: "shutdown", "budget", "wfi" or "error"; or "idle" (only on a shared
    host: VirtualMachine.yield_when_idle), it waits for its timer. `traceback`: for an error
    raised inside the VMM itself (a device model, an engine, the SBI), the Python traceback."""
    reason: str
    code: int = 0
    message: str = ""
    traceback: str = ""


def vmm_failure(component, error):
    """The stop record for an exception `error` raised inside VMM component `component`
    (e.g. "device uart0 at 0x10000000", "engine trap", "sbi"): it stops only that VM."""
    return VmStop("error", message=f"{component}: {type(error).__name__}: {error}",
                  traceback="".join(tb.format_exception(error)))


def debugging():
    """VMKIT_DEBUG=1: a VMM failure is raised to the caller instead of stopping the VM."""
    return os.environ.get("VMKIT_DEBUG") == "1"
