"""SD files as text records: export copies records verbatim (mol block and properties untouched)
and only appends data fields, so nothing the sample stage wrote is lost or re-perceived."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

__all__ = ["SdfRecord", "read_records", "format_record"]

_FIELD = re.compile(r"^>.*<([^>]+)>")


@dataclass
class SdfRecord:
    index: int  # 0-based position in the file
    title: str
    block: str  # mol block (header .. M  END)
    props: dict[str, str] = field(default_factory=dict)  # data fields, in file order


def _parse(index: int, text: str) -> SdfRecord:
    lines = text.split("\n")
    title = lines[0].strip() if lines else ""
    end = next((i for i, ln in enumerate(lines) if ln.startswith("M  END")), len(lines) - 1)
    props: dict[str, str] = {}
    key, buf = None, []
    for ln in lines[end + 1 :]:
        m = _FIELD.match(ln)
        if m:
            key, buf = m.group(1), []
            continue
        if key is None:
            continue
        if ln.strip() == "":
            props[key] = "\n".join(buf)
            key, buf = None, []
        else:
            buf.append(ln)
    if key is not None:
        props[key] = "\n".join(buf)
    return SdfRecord(index, title, "\n".join(lines[: end + 1]), props)


def read_records(path: Path) -> Iterator[SdfRecord]:
    """Records of an SD file in order (split on ``$$$$`` lines)."""
    buf: list[str] = []
    index = 0
    with open(path) as fh:
        for line in fh:
            if line.rstrip("\r\n") == "$$$$":
                yield _parse(index, "".join(buf).rstrip("\n").replace("\r\n", "\n"))
                index += 1
                buf = []
            else:
                buf.append(line)
    if "".join(buf).strip():  # last record without its terminator
        yield _parse(index, "".join(buf).rstrip("\n"))


def format_record(rec: SdfRecord) -> str:
    """The SD text of ``rec`` (mol block + data fields + ``$$$$``)."""
    out = [rec.block]
    for k, v in rec.props.items():
        out.append(f">  <{k}>\n{v}\n")
    return "\n".join(out) + "\n$$$$\n"
