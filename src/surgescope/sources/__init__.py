"""Readers: one module per input format, each turning a file into Arrow record batches of one
canonical table (:mod:`surgescope.schema`) plus a :class:`Rejections` account.

Every format module has the same two functions:

- ``sniff(head: bytes) -> bool``: does this (decompressed) file start look like my format?
- ``read(path, rejections, **options) -> Iterator[pyarrow.RecordBatch]``: stream the
  accepted records in bounded batches, counting the rejected ones into ``rejections``.

:func:`open_input` picks the format (sniffing when ``kind="auto"``) and returns an
:class:`Input` to iterate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pyarrow as pa

from surgescope.schema import SCHEMAS
from surgescope.sources import (
    accesslog,
    accesslog_json,
    cicflowmeter,
    nfdump,
    pcap,
    reports,
    zeek,
)
from surgescope.sources.base import InputError, Rejection, Rejections, head_bytes

#: CLI ``--kind`` -> canonical table it produces.
KIND_TABLE = {"access-log": "requests", "pcap": "packets", "flows": "flows", "reports": "reports"}

#: Formats in sniffing order: the most specific first (binary magic, then headers, then text).
FORMATS: list[tuple[str, str, ModuleType]] = [
    ("pcap", "pcap", pcap),
    ("flows", "cicflowmeter", cicflowmeter),
    ("flows", "nfdump", nfdump),
    ("flows", "zeek", zeek),
    ("access-log", "json", accesslog_json),
    ("reports", "reports", reports),
    ("access-log", "clf", accesslog),
]


@dataclass
class Input:
    """One input file, its detected kind and format, and its rejection account.

    ``texts`` is filled by whoever drops free-text columns while streaming
    (:func:`surgescope.pipeline.read_input`): column name -> :class:`~surgescope.tally.TextTally`
    naming the frequent keys the table keeps instead of the text."""

    path: Path
    kind: str
    format: str
    module: ModuleType
    options: dict = field(default_factory=dict)
    rejections: Rejections = field(default_factory=Rejections)
    texts: dict = field(default_factory=dict)

    @property
    def table(self) -> str:
        return KIND_TABLE[self.kind]

    @property
    def schema(self) -> pa.Schema:
        return SCHEMAS[self.table]

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Stream accepted records; fills :attr:`rejections` as it goes."""
        self.rejections = Rejections(unit=self.rejections.unit)
        yield from self.module.read(self.path, self.rejections, **self.options)

    def read_all(self) -> pa.Table:
        return pa.Table.from_batches(list(self.batches()), schema=self.schema)


def sniff(path: str | Path) -> tuple[str, str, ModuleType]:
    """(kind, format, module) of a file, from its content; :class:`InputError` if unknown."""
    head = head_bytes(path)
    if not head:
        raise InputError(f"{path}: empty file")
    for kind, fmt, module in FORMATS:
        if module.sniff(head):
            return kind, fmt, module
    raise InputError(f"{path}: unknown format (not a capture, access log, flow export or report file)")


def open_input(path: str | Path, kind: str = "auto", **options) -> Input:
    """Open ``path`` as ``kind`` (``auto`` sniffs). Raises :class:`InputError` on failure."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if kind == "auto":
        k, fmt, module = sniff(p)
    else:
        if kind not in KIND_TABLE:
            raise InputError(f"unknown kind {kind!r} (choose from auto, {', '.join(KIND_TABLE)})")
        head = head_bytes(p)
        candidates = [(k, f, m) for k, f, m in FORMATS if k == kind]
        found = [c for c in candidates if c[2].sniff(head)]
        k, fmt, module = found[0] if found else candidates[-1]
    unit = "packet" if k == "pcap" else "line"
    return Input(p, k, fmt, module, options, Rejections(unit=unit))


__all__ = ["FORMATS", "KIND_TABLE", "Input", "InputError", "Rejection", "Rejections", "open_input", "sniff"]
