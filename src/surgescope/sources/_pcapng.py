"""pcapng files: walk the blocks, then gather packet-block fields with NumPy.

Format: IETF draft-ietf-opsawg-pcapng. Blocks are ``type (u32), total length (u32), body,
total length (u32)``; the byte order is set per section by the Section Header Block (SHB)'s
byte-order magic, so big- and little-endian sections may follow each other. Handled:

- SHB (0x0A0D0D0A): byte order; starts a new section (interfaces are reset).
- IDB (1): link type, snap length, options ``if_tsresol`` (9) and ``if_tsoffset`` (14).
- EPB (6): interface id, 64-bit timestamp in the interface's resolution, caplen, wire length.
- SPB (3): no interface id (interface 0) and no timestamp: it gets the timestamp of the
  packet before it in the section (0 if none) — documented, since ``ts`` cannot be null.
- OPB (2, obsolete): like EPB with a 16-bit interface id.
- every other block (NRB, ISB, DSB, custom, ...) is skipped.

dpkt's pcapng reader handles one interface and stops on SPB, so the walk is ours: one Python
loop over block headers collecting offsets, then vectorised gathers of the packet fields.

A block length below 12, not a multiple of 4, above ``max_block`` or disagreeing with the
trailing copy ends reading with one rejection, so a hostile file can neither loop nor allocate.
"""

from __future__ import annotations

import array
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from surgescope.sources._chunks import ChunkReader
from surgescope.sources._decode import Frames, reject_numbers
from surgescope.sources.base import InputError, Rejections

SHB, IDB, OPB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
BOM = 0x1A2B3C4D
OPT_TSRESOL, OPT_TSOFFSET = 9, 14
NATIVE = "<" if sys.byteorder == "little" else ">"
#: Interfaces allowed per section: real captures have a handful; a file of nothing but IDBs
#: must not grow memory without bound.
MAX_INTERFACES = 4096


@dataclass
class Interface:
    linktype: int
    snaplen: int
    tsresol: int = 6  # raw if_tsresol byte: MSB 0 -> 10^-v, MSB 1 -> 2^-v
    tsoffset: int = 0  # seconds added to every timestamp

    def to_ns(self, ticks: np.ndarray) -> np.ndarray:
        """Timestamps in this interface's units (uint64) -> int64 ns since the epoch."""
        v = self.tsresol & 0x7F
        ticks = ticks.astype(np.uint64)
        if self.tsresol & 0x80 == 0:
            if v <= 9:
                ns = ticks.astype(np.int64) * np.int64(10 ** (9 - v))
            elif v - 9 <= 19:
                ns = (ticks // np.uint64(10 ** (v - 9))).astype(np.int64)
            else:
                # A unit finer than 10^-28 s (hostile if_tsresol): no 64-bit tick count reaches 1 ns.
                ns = np.zeros(len(ticks), dtype=np.int64)
        elif v <= 33:
            # Binary fractions: whole seconds and the fraction separately, to stay exact in 64 bits.
            whole = (ticks >> np.uint64(v)).astype(np.int64) * np.int64(1_000_000_000)
            frac = ((ticks & np.uint64((1 << v) - 1)) * np.uint64(1_000_000_000)) >> np.uint64(v)
            ns = whole + frac.astype(np.int64)
        else:
            ns = (ticks.astype(np.float64) * (1e9 / 2.0**v)).astype(np.int64)
        # A hostile if_tsoffset must not overflow: both terms are kept within +-2^62 ns
        # (146 years around 1970), so their sum fits in 64 bits.
        limit = 2**62
        offset = max(-limit, min(limit, self.tsoffset * 1_000_000_000))
        return np.clip(ns, -limit, limit) + np.int64(offset)


def _options(body: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) of a block's options; stops at opt_endofopt or at the end of the body."""
    pos = 0
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == 0:
            return
        value = body[pos + 4 : pos + 4 + length]
        if len(value) < length:
            return
        yield code, value
        pos += 4 + ((length + 3) & ~3)


def parse_idb(body: bytes, order: str) -> Interface | None:
    """An Interface from an IDB body (after type and length, before the trailing length)."""
    if len(body) < 8:
        return None
    linktype, _res, snaplen = struct.unpack_from(order + "HHI", body, 0)
    iface = Interface(linktype, snaplen)
    for code, value in _options(body[8:], order):
        if code == OPT_TSRESOL and len(value) >= 1:
            iface.tsresol = value[0]
        elif code == OPT_TSOFFSET and len(value) >= 8:
            iface.tsoffset = struct.unpack(order + "q", value[:8])[0]
    return iface


class _Section:
    def __init__(self, order: str):
        self.order = order
        self.interfaces: list[Interface] = []
        self.last_ts = 0  # for SPB, which carries no timestamp


def _packet_frames(buf: bytes, offs: list[int], sec: _Section, number: int,
                   rejections: Rejections) -> Frames | None:
    """Frames for the packet blocks at ``offs`` of ``buf`` (all of one section)."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    start = np.asarray(offs, dtype=np.int64)
    k = len(start)
    numbers = np.arange(number + 1, number + 1 + k, dtype=np.int64)
    u32 = np.dtype(sec.order + "u4")
    words = np.ascontiguousarray(arr[np.minimum(start[:, None] + np.arange(28, dtype=np.int64), len(arr) - 1)]).view(u32)
    btype, blen = words[:, 0], words[:, 1].astype(np.int64)
    is_spb = btype == SPB
    is_opb = btype == OPB
    # EPB: iface u32 @8, ts hi @12, ts lo @16, caplen @20, wirelen @24, data @28.
    # OPB: iface u16 + drops u16 @8, then as EPB. SPB: wirelen @8, data @12.
    if sec.order == "<":
        iface_opb = words[:, 2] & 0xFFFF
    else:
        iface_opb = words[:, 2] >> 16
    iface = np.where(is_spb, 0, np.where(is_opb, iface_opb, words[:, 2])).astype(np.int64)
    ticks = (words[:, 3].astype(np.uint64) << np.uint64(32)) | words[:, 4].astype(np.uint64)
    wirelen = np.where(is_spb, words[:, 2], words[:, 6]).astype(np.int64)
    data_off = np.where(is_spb, 12, 28)
    room = blen - data_off - 4
    caplen = np.where(is_spb, np.minimum(wirelen, room), words[:, 5].astype(np.int64))

    nif = len(sec.interfaces)
    bad_if = iface >= nif
    bad_len = ~bad_if & ((caplen > room) | (room < 0))
    if is_spb.any() and nif:
        snap = sec.interfaces[0].snaplen
        if snap:
            caplen = np.where(is_spb, np.minimum(caplen, snap), caplen)
    ok = ~(bad_if | bad_len)
    if bad_if.any():
        reject_numbers(rejections, numbers[bad_if], f"packet block names an interface not described by an IDB (section has {nif})")
    if bad_len.any():
        reject_numbers(rejections, numbers[bad_len], "packet block captured length exceeds its block length")
    if not ok.any():
        return None
    start, iface, ticks, wirelen, caplen, data_off, numbers, is_spb = (
        a[ok] for a in (start, iface, ticks, wirelen, caplen, data_off, numbers, is_spb)
    )
    ts = np.zeros(len(start), dtype=np.int64)
    lts = np.zeros(len(start), dtype=np.int32)
    for i in np.unique(iface).tolist():
        m = iface == i
        lts[m] = sec.interfaces[i].linktype
        ts[m] = sec.interfaces[i].to_ns(ticks[m])
    if is_spb.any():
        # Carry the previous timestamp forward into SPBs (they have none).
        have = np.where(~is_spb, np.arange(len(ts)), -1)
        np.maximum.accumulate(have, out=have)
        ts = np.where(is_spb, np.where(have >= 0, ts[np.maximum(have, 0)], sec.last_ts), ts)
    sec.last_ts = int(ts[-1])
    linktype: int | np.ndarray = int(lts[0]) if (lts == lts[0]).all() else lts
    return Frames(buf=arr, start=start + data_off, caplen=caplen, wirelen=wirelen, ts_ns=ts,
                  linktype=linktype, number=numbers)


def _fast_epbs(words: memoryview, words_np: np.ndarray, pos: int, n: int, max_block: int) -> tuple[np.ndarray, int]:
    """Positions of the run of EPBs starting at ``pos`` (little-endian section), and where it ends.

    The common case — one EPB after another — gets a loop as tight as the classic reader's
    (measured on 1 M packets: 1.1 s in all instead of 1.7 s with the general loop). ``words``
    and ``words_np`` are the buffer as native uint32 (valid blocks are 4-byte aligned). The
    loop only ensures progress (length >= 32); alignment, bounds, completeness and trailers are
    checked vectorised after it, and the run is cut at the first bad block, which is left to
    the general loop to report.
    """
    offs = array.array("q")
    ap = offs.append
    p = pos
    try:
        while True:
            i = p >> 2
            if words[i] != EPB:
                break
            length = words[i + 1]
            if length < 32:  # the smallest EPB; also guarantees progress
                break
            ap(p)
            p += length
    except IndexError:
        pass
    if not offs:
        return np.zeros(0, dtype=np.int64), pos
    starts = np.frombuffer(offs, dtype=np.int64)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = p
    lengths = ends - starts
    ok = (ends <= n) & (lengths % 4 == 0) & (lengths <= max_block)
    ok[ok] = words_np[(ends[ok] >> 2) - 1] == lengths[ok]  # the trailing copy of the length
    bad = np.flatnonzero(~ok)
    k = int(bad[0]) if len(bad) else len(starts)
    return starts[:k], int(ends[k - 1]) if k else pos


def read_frames(
    f: BinaryIO, head: bytes, rejections: Rejections, *, chunk_bytes: int, batch_rows: int,
    max_block: int, info: dict,
) -> Iterator[Frames]:
    """Stream ``Frames`` batches from a pcapng file whose first bytes ``head`` were already read."""
    info.update(format="pcapng", sections=0, interfaces=[])
    reader = ChunkReader(f, chunk_bytes)
    pending = head
    sec: _Section | None = None
    number = 0
    offset = 0  # file offset of pending[0]
    while True:
        buf, n, eof = reader.fill(pending)
        pos = 0
        offs: list[int] = []
        stop: str | None = None
        words_np = np.frombuffer(buf, dtype="<u4", count=n // 4)
        with memoryview(buf)[: n // 4 * 4] as mv, mv.cast("I") as words:
            while pos + 8 <= n:
                if sec is not None and sec.order == NATIVE and not pos & 3:
                    run, end = _fast_epbs(words, words_np, pos, n, max_block)
                    if len(run):
                        offs.extend(run.tolist())
                        pos = end
                        while len(offs) >= batch_rows:
                            fr = _packet_frames(buf, offs[:batch_rows], sec, number, rejections)
                            number += batch_rows
                            offs = offs[batch_rows:]
                            if fr is not None:
                                yield fr
                        continue
                if sec is None or buf[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
                    if buf[pos : pos + 4] != b"\x0a\x0d\x0d\x0a":
                        raise InputError("not a pcapng file (no Section Header Block)")
                    if pos + 12 > n:
                        break
                    bom = buf[pos + 8 : pos + 12]
                    order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">" if bom == b"\x1a\x2b\x3c\x4d" else ""
                    if not order:
                        stop = f"section header at byte {offset + pos} has no valid byte-order magic"
                        break
                    btype, blen = struct.unpack_from(order + "II", buf, pos)
                else:
                    btype, blen = struct.unpack_from(sec.order + "II", buf, pos)
                    order = sec.order
                if blen < 12 or blen % 4 or blen > max_block:
                    stop = f"block at byte {offset + pos} has invalid length {blen} (type {btype:#x})"
                    break
                if pos + blen > n:
                    break  # incomplete: needs the next chunk
                trailer = struct.unpack_from(order + "I", buf, pos + blen - 4)[0]
                if trailer != blen:
                    stop = f"block at byte {offset + pos} has mismatched lengths {blen} and {trailer}"
                    break
                if btype in (EPB, SPB, OPB):
                    offs.append(pos)
                elif btype == SHB:
                    if offs and sec is not None:
                        fr = _packet_frames(buf, offs, sec, number, rejections)
                        number += len(offs)
                        offs = []
                        if fr is not None:
                            yield fr
                    sec = _Section(order)
                    info["sections"] += 1
                elif btype == IDB:
                    assert sec is not None
                    iface = parse_idb(buf[pos + 8 : pos + blen - 4], sec.order)
                    if iface is None:
                        stop = f"interface description block at byte {offset + pos} is too short"
                        break
                    if len(sec.interfaces) >= MAX_INTERFACES:
                        stop = f"more than {MAX_INTERFACES} interfaces in one section (byte {offset + pos})"
                        break
                    sec.interfaces.append(iface)
                    if len(info["interfaces"]) < 64:
                        info["interfaces"].append({"linktype": iface.linktype, "snaplen": iface.snaplen,
                                                   "tsresol": iface.tsresol})
                pos += blen
                while len(offs) >= batch_rows:
                    assert sec is not None
                    fr = _packet_frames(buf, offs[:batch_rows], sec, number, rejections)
                    number += batch_rows
                    offs = offs[batch_rows:]
                    if fr is not None:
                        yield fr
        if offs and sec is not None:
            fr = _packet_frames(buf, offs, sec, number, rejections)
            number += len(offs)
            if fr is not None:
                yield fr
        del words_np
        if stop:
            rejections.add(number + 1, stop + "; the rest of the file is not read")
            return
        offset += pos
        pending = bytes(buf[pos:n])
        if eof:
            if pending:
                rejections.add(number + 1, f"truncated block at end of file ({len(pending)} bytes at byte {offset})")
            return
