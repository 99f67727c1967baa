"""What every reader shares: opening (gzip/zstd, bounded), the rejection account, errors."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import zstandard

#: Records per Arrow batch. Readers stream batches of about this many rows so memory does
#: not grow with the file.
BATCH_ROWS = 262_144

#: Decompressed bytes allowed per input before it is cut off as a decompression bomb.
MAX_DECOMPRESSED = 64 * 2**30


class InputError(Exception):
    """An input that cannot be read at all (missing, unreadable, unknown format).

    The CLI turns it into one line on stderr and exit code 2.
    """


@dataclass
class Rejection:
    where: int
    """Line number (1-based) or packet/record number (1-based), or byte offset for blocks."""
    reason: str
    excerpt: str = ""


@dataclass
class Rejections:
    """Count of rejected records and the first ``max_samples`` of them with where and why."""

    count: int = 0
    samples: list[Rejection] = field(default_factory=list)
    max_samples: int = 20
    unit: str = "line"

    def add(self, where: int, reason: str, excerpt: str | bytes = "") -> None:
        self.count += 1
        if len(self.samples) < self.max_samples:
            if isinstance(excerpt, bytes):
                excerpt = excerpt.decode("utf-8", "replace")
            self.samples.append(Rejection(int(where), reason, excerpt[:200]))

    def add_many(self, wheres: list[int], reason: str, excerpts: list[str] | None = None) -> None:
        room = max(0, self.max_samples - len(self.samples))
        for i, w in enumerate(wheres[:room]):
            self.samples.append(Rejection(int(w), reason, (excerpts[i] if excerpts else "")[:200]))
        self.count += len(wheres)

    def to_dict(self) -> dict:
        return {
            "count": self.count,
            "unit": self.unit,
            "samples": [{"where": r.where, "reason": r.reason, "excerpt": r.excerpt} for r in self.samples],
        }


class _Bounded(io.RawIOBase):
    """Stops a decompressing stream after ``limit`` bytes (a gzip bomb ends, it does not fill RAM)."""

    def __init__(self, inner: BinaryIO, limit: int):
        self.inner, self.left, self.truncated = inner, limit, False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self.left <= 0:
            self.truncated = True
            return 0
        view = memoryview(b)[: min(len(b), self.left)]
        try:
            # read1, not readinto: GzipFile.read discards what it decoded in the call that
            # hits a truncated end, read1 hands it over first.
            data = self.inner.read1(len(view))  # type: ignore[attr-defined]
        except (EOFError, OSError, zstandard.ZstdError, gzip.BadGzipFile):
            # A truncated or corrupt compressed stream: keep what was decoded so far.
            self.truncated = True
            return 0
        n = len(data)
        view[:n] = data
        self.left -= n
        return n


@contextmanager
def input_errors(path: str | Path) -> Iterator[None]:
    """Turn the operating system's errors about ``path`` into one-line :class:`InputError`."""
    try:
        yield
    except FileNotFoundError as e:
        raise InputError(f"{path}: no such file") from e
    except IsADirectoryError as e:
        raise InputError(f"{path}: is a directory") from e
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e


def open_binary(path: str | Path, limit: int = MAX_DECOMPRESSED) -> BinaryIO:
    """Open a file for reading, transparently decompressing gzip and zstd (by magic bytes).

    Raises :class:`InputError` when the file is missing or unreadable.
    """
    p = Path(path)
    with input_errors(p):
        raw = open(p, "rb")  # noqa: SIM115 - the caller owns the stream
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    if head[:2] == b"\x1f\x8b":
        inner: BinaryIO = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
    elif head == b"\x28\xb5\x2f\xfd":
        inner = zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[assignment]
    else:
        return raw
    return io.BufferedReader(_Bounded(inner, limit), buffer_size=1 << 20)  # type: ignore[return-value]


def head_bytes(path: str | Path, n: int = 65536) -> bytes:
    """The first ``n`` decompressed bytes of a file, for sniffing its kind."""
    with open_binary(path) as f:
        return f.read(n)


def iter_chunks(f: BinaryIO, size: int = 16 << 20) -> Iterator[bytes]:
    while True:
        b = f.read(size)
        if not b:
            return
        yield b
