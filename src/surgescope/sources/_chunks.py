"""Chunked reading of a capture stream into padded buffers, shared by the pcap and pcapng readers."""

from __future__ import annotations

from typing import BinaryIO

#: Zero bytes every frame buffer carries after its data, so that a fixed-width read at any
#: position inside a frame (at most 40 bytes: an IPv6 header) never has to be clipped.
PAD = 64


_ZEROS = bytes(PAD)


class ChunkReader:
    """Reads a stream in chunks, each returned as one buffer: the bytes carried over from the
    previous chunk (an incomplete record), the new data, then :data:`PAD` zero bytes.

    After the first chunk the same buffer is reused with ``readinto``: no allocation and no
    extra copy per chunk (measured: the join of carried bytes + data cost 7 % of reading a
    capture). The first chunk is a plain ``read``, so a small file costs a small allocation.
    Frames handed out from a buffer are stale once :meth:`fill` is called again.
    """

    def __init__(self, f: BinaryIO, chunk_bytes: int):
        self.f = f
        self.chunk = max(1, chunk_bytes)
        self.buf: bytearray | None = None

    def fill(self, keep: bytes) -> tuple[bytes | bytearray, int, bool]:
        """(buffer, data length, at end of file)."""
        k = len(keep)
        if self.buf is None:
            data = self.f.read(self.chunk)
            if len(data) < self.chunk:
                return b"".join((keep, data, _ZEROS)), k + len(data), True
            self.buf = bytearray(k + self.chunk + PAD)
            self.buf[:k] = keep
            self.buf[k : k + len(data)] = data
            return self.buf, k + len(data), False
        want = k + self.chunk
        if len(self.buf) < want + PAD:
            # Grows only when a record spans more than a chunk. A new buffer rather than a
            # resize: NumPy views of the old one may still be alive.
            self.buf = bytearray(want + PAD)
        buf = self.buf
        buf[:k] = keep
        got, eof = k, False
        with memoryview(buf) as mv:
            while got < want:
                r = self.f.readinto(mv[got:want])
                if not r:
                    eof = True
                    break
                got += r
        buf[got : got + PAD] = _ZEROS
        return buf, got, eof
