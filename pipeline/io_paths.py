"""Where input text comes from and where outputs go: the checks every command makes, in one place.

Inputs
  * :func:`read_text` reads a file the way every reader needs it: only regular files (a FIFO,
    socket or device is refused, so nothing hangs), ``.gz`` / ``.bz2`` decompressed, a UTF-8 or
    UTF-16 byte-order mark accepted, UTF-8 decoded. Bytes that are not UTF-8 are kept as
    surrogate escapes so one bad line costs one record, not the file: readers ask
    :func:`encoding_problem` about each record's text and report it per record.
  * :func:`format_suffix` is the format of a possibly compressed name (``x.sdf.gz`` -> ``.sdf``).
  * :func:`list_dir` lists every entry below a directory, sorted, as ``(path, problem)``: a file
    that cannot be read (broken link, link loop, FIFO) has a problem; nothing is left out silently.

Outputs (checked before any work, so a bad ``--out`` costs nothing; commands turn
:class:`OutputPathError` into a one-line usage error, exit 2)
  * :func:`check_output_file`: the folder it goes in exists or can be made and is writable, the
    path is not a folder, is not one of the inputs and does not lie inside an input folder;
  * :func:`check_output_dir`: the same for a folder, plus the one rule for existing folders: an
    existing folder is replaced only when it is empty or holds the marker file of the same kind of
    bondiff output (``manifest.json`` for a dataset, ``summary.json`` for a validate report, ...),
    and never when an input lies inside it.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import stat
import tempfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator

__all__ = [
    "COMPRESSED_SUFFIXES",
    "InputFileError",
    "OutputPathError",
    "format_suffix",
    "base_stem",
    "file_problem",
    "read_bytes",
    "read_text",
    "encoding_problem",
    "list_dir",
    "check_output_file",
    "check_output_dir",
]

COMPRESSED_SUFFIXES = (".gz", ".bz2")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class InputFileError(ValueError):
    """A whole input file is unusable (the message is the reason, without the path)."""


class OutputPathError(ValueError):
    """An output location that cannot or must not be written (the message names it)."""


# -- inputs -------------------------------------------------------------------------------------
def format_suffix(path: str | Path) -> str:
    """Lower-case format suffix, compression suffix removed: ``a.SDF.gz`` -> ``.sdf``."""
    p = Path(path)
    suf = p.suffix.lower()
    if suf in COMPRESSED_SUFFIXES:
        suf = Path(p.stem).suffix.lower()
    return suf


def base_stem(path: str | Path) -> str:
    """The name without compression and format suffix: ``mols.sdf.gz`` -> ``mols``."""
    p = Path(path)
    if p.suffix.lower() in COMPRESSED_SUFFIXES:
        p = Path(p.stem)
    return p.stem


def file_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as an input file, or None when it is a readable regular file."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if p.is_symlink():
            return f"broken symbolic link (points to {os.readlink(p)})"
        return "no such file" if exc.errno == errno.ENOENT else f"cannot read: {exc.strerror or exc}"
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        return f"not a regular file but {kind}; not read"
    if not os.access(p, os.R_OK):
        return "cannot read: permission denied"
    return None


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, decompressed for ``.gz`` / ``.bz2``; raises :class:`InputFileError`."""
    p = Path(path)
    why = file_problem(p)
    if why:
        raise InputFileError(why)
    suf = p.suffix.lower()
    try:
        if suf == ".gz":
            with gzip.open(p, "rb") as fh:
                return fh.read()
        if suf == ".bz2":
            with bz2.open(p, "rb") as fh:
                return fh.read()
        return p.read_bytes()
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        if suf in COMPRESSED_SUFFIXES:
            return _raise(f"not a readable {suf} file ({getattr(exc, 'strerror', None) or exc})")
        return _raise(f"cannot read: {getattr(exc, 'strerror', None) or exc}")


def _raise(msg: str) -> bytes:
    raise InputFileError(msg)


def read_text(path: str | Path) -> str:
    """The file as text (see the module doc); undecodable bytes stay as surrogate escapes."""
    data = read_bytes(path)
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    elif data[:2] in _UTF16_BOMS:
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputFileError(f"broken UTF-16 text: {exc.reason}") from None
    if b"\0" in data[:4096]:
        raise InputFileError("binary file (NUL bytes), not text")
    return data.decode("utf-8", errors="surrogateescape")


def encoding_problem(text: str, first_line: int = 1) -> str | None:
    """A reason when ``text`` (from :func:`read_text`) holds bytes that were not UTF-8, else None."""
    for k, line in enumerate(text.splitlines()):
        for col, ch in enumerate(line):
            if "\udc80" <= ch <= "\udcff":
                byte = ord(ch) - 0xDC00
                return (f"line {first_line + k} is not UTF-8 text (byte 0x{byte:02X} at column {col + 1}; "
                        "Latin-1/Windows encoding?): save the file as UTF-8")
    return None


def list_dir(root: str | Path) -> Iterator[tuple[Path, str | None]]:
    """Every non-directory entry below ``root`` (sorted, links not followed into loops) with the
    reason it cannot be read, or None. Folders are walked; hidden entries are listed too."""
    root = Path(root)
    seen: set[tuple[int, int]] = set()

    def walk(d: Path) -> Iterator[tuple[Path, str | None]]:
        try:
            st = d.stat()
            if (st.st_dev, st.st_ino) in seen:
                yield d, "symbolic link loop (folder already visited)"
                return
            seen.add((st.st_dev, st.st_ino))
            entries = sorted(d.iterdir())
        except OSError as exc:
            yield d, f"cannot list folder: {exc.strerror or exc}"
            return
        for e in entries:
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                yield from walk(e)
            else:
                yield e, file_problem(e)

    yield from walk(root)


# -- outputs ------------------------------------------------------------------------------------
def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _inside(child: Path, folder: Path) -> bool:
    c, f = child.resolve(), folder.resolve()
    return c == f or f in c.parents


def _writable_parent(out: Path, what: str) -> None:
    """The nearest existing ancestor of ``out`` is a folder we can create files in."""
    anc = out.parent
    while True:
        if anc.exists() or anc.is_symlink():
            break
        if anc == anc.parent:
            break
        anc = anc.parent
    if anc.exists() and not anc.is_dir():
        raise OutputPathError(f"cannot write {what} {out}: {anc} is a file, not a folder")
    if not anc.exists():
        raise OutputPathError(f"cannot write {what} {out}: {anc} does not exist")
    try:  # a real probe: permission bits, read-only mounts, immutable folders and root all covered
        fd, probe = tempfile.mkstemp(prefix=".bondiff-write-test-", dir=anc)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(f"cannot write {what} {out}: folder {anc} is not writable ({exc.strerror or exc})") from None


def _not_an_input(out: Path, inputs: Iterable[str | Path], what: str, folder: bool) -> None:
    for i in inputs:
        if i is None:
            continue
        ip = Path(i)
        if _same(out, ip):
            raise OutputPathError(f"refusing to write {what} {out}: it is one of the inputs ({ip})")
        if folder and out.exists() and _inside(ip, out):
            raise OutputPathError(f"refusing to write {what} {out}: the input {ip} lies inside it")
        if ip.is_dir() and _inside(out, ip):
            raise OutputPathError(f"refusing to write {what} {out}: it lies inside the input folder {ip} "
                                  "(it would change the input, and be read as input next time)")


def check_output_file(out: str | Path, inputs: Iterable[str | Path] = (), what: str = "output") -> Path:
    """Check a file output before any work (see the module doc); returns it as a Path."""
    out = Path(out)
    if out.is_dir():
        raise OutputPathError(f"cannot write {what} {out}: it is a folder, a file path is expected")
    if out.exists() and not out.is_file():
        raise OutputPathError(f"cannot write {what} {out}: it exists and is not a regular file")
    _not_an_input(out, inputs, what, folder=False)
    _writable_parent(out, what)
    return out


def check_output_dir(
    out: str | Path, marker: str | tuple[str, ...] | None, inputs: Iterable[str | Path] = (), what: str = "output folder"
) -> Path:
    """Check a folder output before any work (see the module doc); returns it as a Path.

    ``marker``: the entry (or any of several) that makes an existing folder a bondiff output of
    this kind, to be replaced or continued (None: only an empty or missing folder is accepted).
    """
    out = Path(out)
    markers = (marker,) if isinstance(marker, str) else tuple(marker or ())
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"cannot write {what} {out}: it is a file, a folder is expected")
    _not_an_input(out, inputs, what, folder=True)
    if out.is_dir() and any(out.iterdir()) and not any((out / m).exists() for m in markers):
        kind = f" and is not a bondiff {what} (no {' or '.join(markers)})" if markers else ""
        raise OutputPathError(f"refusing to replace {out}: it exists, is not empty{kind}; choose a new or empty folder")
    _writable_parent(out, what)
    return out
