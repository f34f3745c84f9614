"""The terminal at the other end of the console: what the guest printed, as a bounded scrollback.

A guest decides how much it prints, so the host keeps only the last `limit` bytes, like a
terminal's scrollback buffer (xterm's saveLines), and counts the bytes it let go in `dropped`.
The log is a bytearray, so `bytes(log)`, `log.decode()` and `log == b"..."` read the tail.
"""

# 1 MiB: about 13,000 lines of 80 columns, far more than a notebook cell shows, and small enough
# that a guest flooding its console costs the host nothing it would notice (not from a source:
# a choice; the widget shows a tail of this).
CONSOLE_LIMIT = 1 << 20


class ConsoleLog(bytearray):
    """Bytes written to the console, keeping at most `limit`; `dropped` counts the rest."""

    def __init__(self, limit=CONSOLE_LIMIT):
        super().__init__()
        self.limit = limit
        self.dropped = 0

    def write(self, data):
        if len(data) >= self.limit:                # only its tail can stay
            self.dropped += len(self) + len(data) - self.limit
            self[:] = data[len(data) - self.limit:]
            return
        self += data
        excess = len(self) - self.limit
        if excess > 0:
            del self[:excess]                      # CPython moves the start: no copy
            self.dropped += excess
