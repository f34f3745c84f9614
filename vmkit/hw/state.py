"""A device's state as plain data: what a snapshot saves of a device model (x86/KVM: the
device state QEMU's vmstate descriptions migrate, KVM_GET_LAPIC, KVM_GET_PIT2 ...).

A device model's state is its attributes that hold plain data: numbers, booleans, strings,
None, and sequences of those (nested too). A list is a table and keeps its length (the PLIC's
priorities, a context's enable words); a deque is a queue and may hold any number of items (a
UART FIFO). Callables (the output line, the interrupt line) and references to other objects
are wiring, not state, and are left alone. So a new device model is saved and restored
without a line of snapshot code, as long as it keeps its state in such attributes; one that
does not overrides `Device.save_state` / `load_state`.

    state = plain_state(uart)            # {"ier": 1, "rx_fifo": [104, 105], ...}
    load_plain_state(uart, state, "uart0")    # ValueError, and nothing changed, if it does
                                              # not fit the device's attributes
"""

from collections import deque

SCALARS = (bool, int, str, float, type(None))
SEQUENCES = (list, tuple, deque, bytes, bytearray)


def plain_state(obj) -> dict:
    """The attributes of `obj` that hold plain data, JSON-ready (sequences become lists)."""
    return {name: _plain(value) for name, value in vars(obj).items() if _is_plain(value)}


def load_plain_state(obj, state, what) -> None:
    """Set `obj`'s plain-data attributes from `state` (from `plain_state` of the same kind of
    object); ValueError naming `what`, and nothing changed, when it does not fit."""
    current = plain_state(obj)
    if not isinstance(state, dict) or set(state) != set(current):
        raise ValueError(f"{what}: the saved state names other attributes than "
                         f"{sorted(current)}")
    for name, value in state.items():
        if not _fits(getattr(obj, name), value):
            raise ValueError(f"{what}: {name} = {str(value)[:60]} does not fit its "
                             f"{type(getattr(obj, name)).__name__}")
    for name, value in state.items():
        old = getattr(obj, name)
        if isinstance(old, SEQUENCES):
            value = type(old)(value)            # a deque stays a deque, bytes stay bytes
            if isinstance(old, (list, bytearray)):
                old[:] = value                  # in place: others may hold this very list
                continue
        setattr(obj, name, value)


def _is_plain(value):
    if isinstance(value, SCALARS):
        return True
    return isinstance(value, SEQUENCES) and all(_is_plain(v) for v in value)


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, SEQUENCES) else value


def _fits(old, new):
    """May `new` (from a file) replace `old`? The same kind of value, a table of the same
    length whose items fit, a queue of numbers. No number is negative or wider than 64 bits:
    a file that says so is not a saved state (and a huge number would slow every access)."""
    if isinstance(old, SEQUENCES):
        if not isinstance(new, list) or isinstance(old, list) and len(new) != len(old):
            return False
        if isinstance(old, (bytes, bytearray)):
            return all(type(v) is int and 0 <= v < 256 for v in new)
        if len(old) == 0:
            return all(type(v) is int and 0 <= v < 1 << 64 for v in new)
        return all(_fits(old[0], v) for v in new)      # tables and queues are of one kind
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(new, int) and not 0 <= new < 1 << 64:
        return False
    if old is None or isinstance(old, (int, float)):
        return new is None or isinstance(new, (int, float))
    return type(old) is type(new)


# -- tables: an engine's dicts, sets and records ------------------------------------------------
# An engine's private tables (bt's blocks by guest pc, its sets of TC addresses) have tuple
# keys, sets and small records: JSON has none of these, so each is tagged. `from_plain`
# makes only the record classes it is given, never anything a file names.

def to_plain(value):
    """`value` (numbers, strings, None, lists, tuples, sets, dicts with any keys, records of
    such attributes) as JSON-ready data that `from_plain` turns back into the same."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    for kind in (list, tuple, frozenset, set):
        if type(value) is kind:
            items = [to_plain(v) for v in value]
            if kind in (set, frozenset):
                items.sort(key=repr)                 # the same set, the same text
            return {kind.__name__: items}
    if type(value) is dict:
        return {"dict": [[to_plain(k), to_plain(v)] for k, v in value.items()]}
    return {"record": type(value).__name__, "vars": to_plain(vars(value))}


def from_plain(data, records=()):
    """The value `to_plain` made `data` from; records only of the classes in `records`.
    ValueError when `data` is not such data."""
    try:
        return _from_plain(data, records)
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"not a saved value: {error}") from None


def _from_plain(data, records):
    kinds = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if not isinstance(data, dict) or len(data) not in (1, 2):
        raise ValueError(str(data)[:60])
    (tag, items), = list(data.items())[:1]
    if tag in kinds and isinstance(items, list) and len(data) == 1:
        return kinds[tag](_from_plain(v, records) for v in items)
    if tag == "dict" and isinstance(items, list) and len(data) == 1:
        return {_key(_from_plain(k, records)): _from_plain(v, records) for k, v in items}
    classes = {cls.__name__: cls for cls in records}
    if tag == "record" and items in classes and set(data) == {"record", "vars"}:
        fields = _from_plain(data["vars"], records)
        if not isinstance(fields, dict) or not all(isinstance(k, str) for k in fields):
            raise ValueError(f"a {items} record needs named fields")
        record = object.__new__(classes[items])
        record.__dict__.update(fields)
        return record
    raise ValueError(str(data)[:60])


def _key(value):
    hash(value)                         # TypeError for a list or set as a key
    return value
