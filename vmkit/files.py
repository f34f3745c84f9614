"""Reading a user's input file: a regular file of bounded size, or one clear error.

A path may name a FIFO (opening it blocks until some writer comes), a device such as
/dev/zero (reading it never ends) or a directory. `os.stat` tells which before anything is
opened, so such input is refused at once instead of hanging or filling memory; the size
limit is checked against the file's own size and again while reading (the file may grow).
"""

import os
import stat


class InputFileError(ValueError):
    """Why the file cannot be read, in a few words; the caller names the file."""


def read_input(path, limit: int) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them."""
    try:
        info = os.stat(path)
    except OSError as e:
        raise InputFileError(f"cannot read: {e.strerror or e}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else \
            "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or special file"
        raise InputFileError(f"not a regular file ({kind})")
    if info.st_size > limit:
        raise InputFileError(f"file is {info.st_size} bytes, over the {_size(limit)} limit")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise InputFileError(f"cannot read: {e.strerror or e}") from None
    if len(data) > limit:
        raise InputFileError(f"file is over the {_size(limit)} limit")
    return data


def _size(limit):
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} byte"
