"""Every file tonewatch writes goes through here: private to the user, never over an input.

Logs, reports, review exports and the batch index hold what callers said and the agents'
names. The rules, kept in one place:

- a new file is created readable and writable by the user only (0600), a new folder 0700;
- the mode of an existing file or folder is never changed (an admin's shared 0664 log
  stays 0664; `--log /dev/full` must not touch a device);
- a path that exists but is not a regular file (a device, a FIFO, a folder) is refused;
- an output that is one of the command's inputs (`report L -o L`) is refused.

Each refusal is a `FileRefused` with one line naming the path; callers turn it into their
own error and exit code.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path


class FileRefused(Exception):
    """An output path tonewatch will not write; the message is one line naming it."""


def private_dirs(folder: str | Path) -> Path:
    """`folder` and any missing parents, created 0700 (existing ones are left as they are).

    Raises:
        FileRefused: it cannot be created, or exists and is not a folder.
    """
    folder = Path(folder)
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        for q in reversed(missing):
            q.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise FileRefused(f"{folder}: cannot create folder ({_why(exc)})") from None
    if not folder.is_dir():
        raise FileRefused(f"{folder}: not a folder")
    return folder


def _why(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def check_output(path: str | Path, inputs: Iterable[str | Path] = (), what: str = "file") -> Path:
    """`path` if tonewatch may write `what` there: not one of `inputs`, and a regular file
    when it exists.

    Raises:
        FileRefused: one line naming the path and why.
    """
    path = Path(path)
    for given in inputs:
        if given is None:
            continue
        src = Path(given)
        same = False
        with contextlib.suppress(OSError):
            same = path.exists() and src.exists() and os.path.samefile(path, src)
        if same or path.absolute() == src.absolute():
            raise FileRefused(f"{path}: is one of the inputs; the {what} would overwrite it")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise FileRefused(f"{path}: cannot write {what} ({_why(exc)})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise FileRefused(f"{path}: {kind}; the {what} is not written there")
    return path


def open_private(
    path: str | Path, append: bool = False, what: str = "file", make_dirs: bool = False
) -> int:
    """A descriptor open for writing `path` (appending or truncating): created 0600 (with
    its missing folders, 0700, when `make_dirs`), an existing file's mode left alone.

    Raises:
        FileRefused: not a regular file, or it cannot be opened (one line).
    """
    path = check_output(path, what=what)
    if make_dirs and not path.parent.exists():
        try:
            private_dirs(path.parent)
        except FileRefused as exc:
            why = str(exc).rsplit("(", 1)[-1].rstrip(")") if "(" in str(exc) else "no folder"
            raise FileRefused(f"{path}: cannot open {what} ({why})") from None
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    # O_NONBLOCK: a FIFO swapped in after the check fails at once instead of hanging.
    try:
        fd = os.open(path, flags | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        raise FileRefused(f"{path}: cannot open {what} ({_why(exc)})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileRefused(f"{path}: not a regular file; the {what} is not written there")
    os.set_blocking(fd, True)
    return fd


def write_private(
    path: str | Path,
    text: str,
    inputs: Iterable[str | Path] = (),
    what: str = "file",
    atomic: bool = False,
) -> int:
    """Write `text` (UTF-8) to `path` by the rules above; returns the bytes written.

    `atomic` writes a temporary file beside it and renames it over `path` (readers never
    see half a file); an existing file's mode is carried over to the new one.

    Raises:
        FileRefused: the path is refused or cannot be written (one line).
    """
    path = check_output(path, inputs, what)
    data = text.encode("utf-8")
    target = path.with_name(path.name + ".tmp") if atomic else path
    fd = open_private(target, what=what)
    try:
        if atomic and path.exists():
            os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))  # the new file keeps the mode
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if atomic:
            os.fsync(fd)
    except OSError as exc:
        raise FileRefused(f"{path}: cannot write {what} ({_why(exc)})") from None
    finally:
        os.close(fd)
    if atomic:
        try:
            os.replace(target, path)
        except OSError as exc:
            raise FileRefused(f"{path}: cannot write {what} ({_why(exc)})") from None
    return len(data)
