"""The shared opening of inputs: compression by magic bytes, truncation, bombs."""

import gzip

import zstandard

from surgescope.sources.base import open_binary

DATA = b"".join(b"line %d of a log\n" % i for i in range(20_000))


def test_gzip_and_zstd_by_magic(tmp_path):
    (tmp_path / "a.log").write_bytes(gzip.compress(DATA))  # misleading name on purpose
    (tmp_path / "b.bin").write_bytes(zstandard.ZstdCompressor().compress(DATA))
    assert open_binary(tmp_path / "a.log").read() == DATA
    assert open_binary(tmp_path / "b.bin").read() == DATA


def test_truncated_gzip_keeps_what_was_decoded(tmp_path):
    gz = gzip.compress(DATA)
    (tmp_path / "t.gz").write_bytes(gz[:-50])
    got = open_binary(tmp_path / "t.gz").read()
    # All but the tail of the last deflate block survives; nothing is invented.
    assert DATA.startswith(got)
    assert len(got) > len(DATA) - 1024


def test_bomb_is_cut_at_the_limit(tmp_path):
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(b"\0" * (8 << 20)))
    assert len(open_binary(tmp_path / "bomb.gz", limit=1 << 20).read()) == 1 << 20
