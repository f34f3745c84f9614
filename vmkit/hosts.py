"""Several guests on one host, as `vmkit run --guest a=tinyos --guest b=halt:trap` and notebook 05
show them (x86: one KVM host with several domains, `virsh list` beside each one's serial
console).

    host = Host(ram_size=host_ram(3))             # vmkit.vmm.host: Host, host_ram
    guests = add_guests(host, ["a=tinyos", "b=halt:trap", "spin"], write=sys.stdout.write)
    report = host.run(2_000_000)                  # "[a] tinyos: booting, two tasks" ...
    for vm, console in guests:
        console.flush()                           # a last line with no newline
    print(report_table(host, report))

A guest spec is NAME=WORKLOAD:ENGINE; NAME= and :ENGINE may be left out (the workload's name,
the default engine). Each guest's console goes through a `NamedConsole`, which hands on whole
lines, each prefixed by the VM's name, so the consoles of guests that share the hart in slices
stay readable. `report_table` is the per-VM summary of `Host.report()`.
"""

from pathlib import Path

from .guest import WORKLOADS
from .lab import load_program
from .vmm.engines import ENGINES, engine_class

SPEC = "[NAME=]WORKLOAD[:ENGINE]"
LINE_LIMIT = 1024        # a guest that never ends its line still gets shown, in pieces


def parse_guest(spec, engine="hw"):
    """(name or None, workload, engine) of a guest spec; ValueError, one line, if it is bad."""
    if not isinstance(spec, str):
        raise ValueError(f"a guest is a {SPEC} string, not {spec!r}")
    name, equals, rest = spec.partition("=")
    if not equals:
        name, rest = None, spec
    elif not name.strip():
        raise ValueError(f"guest {spec!r}: the name before '=' is empty (give {SPEC})")
    workload, colon, chosen = rest.rpartition(":")
    if not colon:
        workload, chosen = rest, engine
    elif chosen not in ENGINES:
        raise ValueError(f"guest {spec!r}: unknown engine {chosen!r}; choose one of "
                         f"{', '.join(ENGINES)}")
    if not workload:
        raise ValueError(f"guest {spec!r}: no workload (give {SPEC})")
    return name, workload, chosen


def default_names(guests):
    """Names for parsed guests: the given one, else the workload's (tinyos, tinyos-2, ...).
    ValueError when two guests are given the same name."""
    names, taken = [], {name for name, _, _ in guests if name is not None}
    given = set()
    for name, workload, _ in guests:
        if name is not None:
            if name in given:
                raise ValueError(f"two guests are named {name!r}")
            given.add(name)
            names.append(name)
            continue
        stem, number = Path(workload).stem or "guest", 1
        name = stem
        while name in taken:
            number += 1
            name = f"{stem}-{number}"
        taken.add(name)
        names.append(name)
    return names


def add_guests(host, specs, engine="hw", iterations=None, quirks=(), write=None):
    """Create a VM on `host` for each guest spec (names: `default_names`); `write(text)` gets
    every console line, "[name] ...\n". Returns [(vm, its NamedConsole or None)], in spec
    order. `iterations`: the loop count of the built-in workloads among them (lab's guests).
    A native guest is created first: it takes the host RAM at 0x8000_0000 (host.py)."""
    guests = [parse_guest(spec, engine) for spec in specs]
    names = default_names(guests)
    made = {}
    order = sorted(range(len(guests)),
                   key=lambda i: not getattr(engine_class(guests[i][2]), "bare_metal", False))
    for index in order:
        _, workload, chosen = guests[index]
        count = iterations if workload in WORKLOADS else None
        program = load_program(workload, count, pv=engine_class(chosen).needs_pv_build)
        console = None if write is None else NamedConsole(names[index], write)
        made[index] = (host.create_vm(program, engine=chosen, name=names[index],
                                      console=console, quirks=quirks), console)
    return [made[index] for index in range(len(guests))]


class NamedConsole:
    """A VM's console callback that hands `write` whole lines, each as "[name] line\\n".
    `flush()` hands on a last line that has no newline (at the end of a run)."""

    def __init__(self, name, write):
        self.prefix = f"[{name}] "
        self.write = write
        self.pending = bytearray()

    def __call__(self, data):
        self.pending += data
        *lines, rest = self.pending.split(b"\n")
        for line in lines:
            self._emit(line)
        while len(rest) >= LINE_LIMIT:       # a flood without newlines: never held unbounded
            self._emit(rest[:LINE_LIMIT])
            rest = rest[LINE_LIMIT:]
        self.pending = bytearray(rest)

    def flush(self):
        if self.pending:
            self._emit(self.pending)
            self.pending = bytearray()

    def _emit(self, line):
        self.write(self.prefix + bytes(line).decode("utf-8", "replace").rstrip("\r") + "\n")


def stop_text(vm):
    """How a VM on a host ended, in words: "shutdown 0", "wfi: ...", "running"."""
    stop = vm.stop
    if stop is None:
        return "running"
    if stop.reason == "shutdown":
        return f"shutdown {stop.code}"
    return f"{stop.reason}: {stop.message}" if stop.message else stop.reason


def report_table(host, report=None):
    """Host.report() as text: one row per VM, then the host's own line."""
    report = host.report() if report is None else report
    rows = [("name", "engine", "guest insns", "idle", "slices", "how it ended")]
    for row in report["vms"]:
        vm = host.vms[row["name"]]
        rows.append((row["name"], vm.engine.name, str(row["instructions"]), str(row["idle"]),
                     str(row["slices"]), stop_text(vm)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.rjust(width) if 1 < i < 5 else cell.ljust(width)
                       for i, (cell, width) in enumerate(zip(row[:5], widths)))
             + "  " + row[5] for row in rows]
    lines.append(f"host: {report['host_time']} ticks, busy {report['busy']} "
                 f"({report['utilization']:.0%}), {report['world_switches']} world switches")
    return "\n".join(lines)
