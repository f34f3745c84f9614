"""Assembler diagnostics: every problem is one line ``file:line:column: message``.

Statement handlers raise `LineError` (a column and a message); the assembler adds the file
and line, keeps going to find more problems, and finally raises one `AsmError` with all of
them, as GNU as prints all its "Error:" lines before giving up.
"""

MAX_ERRORS = 20
MAX_MESSAGE = 300           # characters of one message: still one readable line


class AsmError(ValueError):
    """Assembly failed; ``diagnostics`` lists the ``file:line:col: message`` lines."""

    def __init__(self, diagnostics):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(self.diagnostics))


class LineError(Exception):
    """A problem in the statement being assembled; ``col`` is 0-based in the line's text."""

    def __init__(self, col: int, message: str):
        super().__init__(message)
        self.col = col
        self.message = message


class TooManyErrors(Exception):
    """Raised once `MAX_ERRORS` diagnostics are collected: stop early, report them."""


class Diagnostics:
    """Collects the error lines of one assembly run."""

    def __init__(self):
        self.lines = []

    def add(self, file: str, line: int, col: int, message: str):
        if len(message) > MAX_MESSAGE:              # it quotes a megabyte-long "word"
            message = message[:MAX_MESSAGE - 3] + "..."
        self.lines.append(f"{file}:{line}:{col + 1}: {message}")
        if len(self.lines) >= MAX_ERRORS:
            self.lines.append(f"{file}:{line}:{col + 1}: too many errors, stopping")
            raise TooManyErrors()

    def check(self):
        if self.lines:
            raise AsmError(self.lines)
