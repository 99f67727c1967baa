"""Packet captures (classic pcap and pcapng) -> :data:`surgescope.schema.PACKETS` batches.

The container is chosen by magic bytes, never by file name (several real captures named
``.pcapng`` are classic pcap). gzip and zstd are decompressed transparently. The file is
streamed in chunks, so memory stays bounded whatever the capture's size.

- :mod:`._pcap_classic`: classic libpcap, both byte orders, micro- and nanosecond magics,
  and the "modified" (Kuznetsov) variant.
- :mod:`._pcapng`: pcapng sections of either byte order, several interfaces with different
  link types, ``if_tsresol``/``if_tsoffset``, EPB, SPB and OPB.
- :mod:`._decode`: the vectorised link/IP/transport decoder shared by both;
  :mod:`._addrtext` formats the address columns, :mod:`._chunks` reads padded chunks.

One row per captured frame: IP packets with all fields; frames that are not IP (ARP, LLDP,
...) with ``ts`` and ``frame_len`` only and null IP fields, so the row count equals the
capture's packet count (as tshark and SOURCES.md count it); pass ``ip_only=True`` to drop them.
Frames that claim to be IP but are cut short or malformed are rejected with their packet
number and reason.

>>> from surgescope.sources.base import Rejections
>>> import pathlib, tempfile, struct
>>> frame = bytes(12) + b"\\x08\\x06" + bytes(28)  # an ARP frame
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.cap"
>>> _ = p.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
...                   + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)
>>> t = read_table(p)
>>> t.num_rows, t["frame_len"].to_pylist(), t["src_ip"].to_pylist()
(1, [42], [None])
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import pyarrow as pa

from surgescope.schema import PACKETS
from surgescope.sources import _pcap_classic, _pcapng
from surgescope.sources._decode import DecodeStats, check_columns, decode
from surgescope.sources.base import BATCH_ROWS, InputError, Rejections, open_binary

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
#: Largest record a capture may claim. libpcap's and Wireshark's own maximum snap length is
#: 262144; anything larger is corruption, and is not allocated.
MAX_CAPLEN = 262_144
#: Largest pcapng block accepted (packet blocks are bounded by MAX_CAPLEN; other blocks, such
#: as decryption secrets, may be bigger, but not this big).
MAX_BLOCK = 16 << 20
#: Bytes read at a time. Measured on the 1 M-packet bench capture: 8 MiB chunks (~80 k packets
#: per batch) ran in 0.55 s CPU and 174 MB peak RSS, 32 MiB in 0.82 s and 282 MB: smaller
#: working sets stay in cache.
CHUNK_BYTES = 8 << 20


def _is_pcapng(head: bytes) -> bool:
    return head[:4] == PCAPNG_MAGIC and head[8:12] in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d")


def sniff(head: bytes) -> bool:
    """True for classic pcap (any of its magics) and for pcapng.

    >>> sniff(bytes.fromhex("d4c3b2a1") + bytes(20)), sniff(b"GET / HTTP/1.1")
    (True, False)
    """
    return head[:4] in _pcap_classic.MAGICS or _is_pcapng(head)


def read(
    path: str | Path,
    rejections: Rejections,
    *,
    ip_only: bool = False,
    batch_rows: int = BATCH_ROWS,
    chunk_bytes: int = CHUNK_BYTES,
    max_caplen: int = MAX_CAPLEN,
    stats: dict | None = None,
    columns: Collection[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream the packets of a pcap or pcapng file as PACKETS record batches.

    Options: ``ip_only`` drops non-IP frames instead of emitting them with null IP fields;
    ``batch_rows`` bounds the rows per batch; ``chunk_bytes`` is how much of the file is read
    at a time; ``max_caplen`` is the largest record length believed; ``stats``, if given a
    dict, is filled with what was seen (format, link types, frames, IP and non-IP counts);
    ``columns`` names the PACKETS fields to decode (default all; the others are null, same
    schema, same rows). Only :class:`InputError` escapes (a file that is not a capture at
    all), and ValueError for a ``columns`` name that is not a PACKETS field.
    """
    columns = check_columns(columns)
    info: dict = {}
    counts = DecodeStats()
    f = open_binary(path)
    try:
        head = f.read(64)
        if not head:
            raise InputError(f"{path}: empty file")
        if head[:4] in _pcap_classic.MAGICS:
            frames = _pcap_classic.read_frames(f, head, rejections, chunk_bytes=chunk_bytes,
                                               batch_rows=batch_rows, max_caplen=max_caplen, info=info)
        elif _is_pcapng(head):
            frames = _pcapng.read_frames(f, head, rejections, chunk_bytes=chunk_bytes,
                                         batch_rows=batch_rows, max_block=max(MAX_BLOCK, max_caplen + 64), info=info)
        else:
            raise InputError(f"{path}: not a packet capture (no pcap or pcapng magic at the start)")
        try:
            for fr in frames:
                batch = decode(fr, rejections, counts, ip_only=ip_only, columns=columns)
                if batch.num_rows:
                    yield batch
        except InputError as e:
            raise InputError(f"{path}: {e}") from e
        except Exception as e:  # noqa: BLE001 - the reader's edge: one clear error, never a traceback
            # Hostile input is handled by rejections above; this is for what nobody foresaw
            # (an I/O error mid-stream, a decoder bug): the caller gets one line and exit code 2.
            raise InputError(f"{path}: capture could not be read further ({type(e).__name__}: {e})") from e
    finally:
        f.close()
        if stats is not None:
            stats.update(info)
            stats.update(counts.to_dict())


def read_table(path: str | Path, rejections: Rejections | None = None, **options) -> pa.Table:
    """A whole capture as one PACKETS table (convenience for small files and tests)."""
    rej = rejections if rejections is not None else Rejections(unit="packet")
    return pa.Table.from_batches(list(read(path, rej, **options)), schema=PACKETS)
