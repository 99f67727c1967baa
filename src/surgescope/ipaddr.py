"""One place for the address representation described in :mod:`surgescope.schema`.

Every address is a 128-bit number split into two ``uint64`` halves (``hi``, ``lo``); IPv4 is
IPv4-mapped (``::ffff:a.b.c.d``), so ``hi == 0`` and ``lo >> 32 == 0xFFFF``.

>>> import numpy as np
>>> hi, lo = from_strings(["10.0.0.1", "2001:db8::1", "bogus"])
>>> to_strings(hi, lo)
['10.0.0.1', '2001:db8::1', None]
>>> is_v4(hi, lo).tolist()
[True, False, False]
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import numpy as np
import polars as pl

V4_MAPPED = np.uint64(0xFFFF_0000_0000)
_LO32 = np.uint64(0xFFFF_FFFF)


def from_v4_ints(v4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IPv4 addresses as ``uint32`` -> (hi, lo)."""
    v4 = np.asarray(v4, dtype=np.uint64)
    return np.zeros(len(v4), dtype=np.uint64), v4 | V4_MAPPED


def from_v6_bytes(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IPv6 addresses as an ``(n, 16)`` ``uint8`` array in network order -> (hi, lo)."""
    b = np.ascontiguousarray(b, dtype=np.uint8).reshape(-1, 16)
    hi = b[:, :8].copy().view(">u8").ravel().astype(np.uint64)
    lo = b[:, 8:].copy().view(">u8").ravel().astype(np.uint64)
    return hi, lo


def is_v4(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    hi = np.asarray(hi, dtype=np.uint64)
    lo = np.asarray(lo, dtype=np.uint64)
    return (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))


def v4_ints(lo: np.ndarray) -> np.ndarray:
    """The IPv4 number of IPv4-mapped addresses (meaningless for others: mask with is_v4)."""
    return (np.asarray(lo, dtype=np.uint64) & _LO32).astype(np.uint32)


def v4_strings(v4: np.ndarray) -> pl.Series:
    """Vectorised dotted-quad formatting of ``uint32`` addresses."""
    v4 = np.asarray(v4, dtype=np.uint32)
    df = pl.DataFrame({f"o{s}": ((v4 >> s) & 0xFF).astype(np.uint8) for s in (24, 16, 8, 0)})
    return df.select(pl.concat_str(pl.all().cast(pl.String), separator=".")).to_series()


def from_strings(texts: Sequence[str | None] | pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse text addresses to (hi, lo); unparseable or null gives (0, 0) — test with :func:`valid`.

    IPv4 is parsed vectorised (the common case in logs); anything else falls back to
    :mod:`ipaddress`, which is rare enough not to matter for throughput.
    """
    s = texts if isinstance(texts, pl.Series) else pl.Series(list(texts), dtype=pl.String)
    n = len(s)
    octets = s.str.extract_groups(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
    df = octets.struct.unnest().select(pl.all().cast(pl.UInt32, strict=False))
    a, b, c, d = (df.get_column(col).to_numpy() for col in df.columns)
    with np.errstate(invalid="ignore"):
        ok4 = ~(np.isnan(a.astype(float)) | np.isnan(b.astype(float)) | np.isnan(c.astype(float)) | np.isnan(d.astype(float)))
    a, b, c, d = (np.nan_to_num(x.astype(float)).astype(np.uint64) for x in (a, b, c, d))
    ok4 &= (a < 256) & (b < 256) & (c < 256) & (d < 256)
    hi = np.zeros(n, dtype=np.uint64)
    lo = np.where(ok4, V4_MAPPED | (a << np.uint64(24)) | (b << np.uint64(16)) | (c << np.uint64(8)) | d, 0).astype(np.uint64)
    rest = np.flatnonzero(~ok4)
    if len(rest):
        values = s.gather(rest).to_list()
        for i, t in zip(rest, values, strict=True):
            if not t:
                continue
            try:
                ip = ipaddress.ip_address(t.strip("[]"))
            except ValueError:
                continue
            v = int(ip) if ip.version == 6 else (0xFFFF_0000_0000 | int(ip))
            hi[i] = np.uint64(v >> 64)
            lo[i] = np.uint64(v & 0xFFFF_FFFF_FFFF_FFFF)
    return hi, lo


def valid(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """False where :func:`from_strings` could not parse (the all-zero address ``::``)."""
    return (np.asarray(hi) != 0) | (np.asarray(lo) != 0)


def to_strings(hi: np.ndarray, lo: np.ndarray) -> list[str | None]:
    """Canonical text of (hi, lo) addresses; ``None`` for the invalid (0, 0)."""
    hi = np.asarray(hi, dtype=np.uint64)
    lo = np.asarray(lo, dtype=np.uint64)
    out: list[str | None] = [None] * len(hi)
    v4 = is_v4(hi, lo)
    if v4.any():
        idx = np.flatnonzero(v4)
        for i, t in zip(idx, v4_strings(v4_ints(lo[idx])).to_list(), strict=True):
            out[i] = t
    for i in np.flatnonzero(~v4 & valid(hi, lo)):
        out[i] = str(ipaddress.IPv6Address((int(hi[i]) << 64) | int(lo[i])))
    return out


def to_int(hi: int, lo: int) -> int:
    return (int(hi) << 64) | int(lo)


def to_address(hi: int, lo: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """One (hi, lo) pair as an :mod:`ipaddress` object (IPv4 for mapped addresses)."""
    v = to_int(hi, lo)
    if int(hi) == 0 and (int(lo) >> 32) == 0xFFFF:
        return ipaddress.IPv4Address(v & 0xFFFF_FFFF)
    return ipaddress.IPv6Address(v)
