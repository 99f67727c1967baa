"""Hostile input for the access-log readers: they read what is good, count the rest with the
right line numbers, and never raise anything but InputError.

Good lines are real ones from the Elastic ``apache_logs`` sample; the damage is generated.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surgescope.schema import REQUESTS
from surgescope.sources import accesslog, accesslog_json
from surgescope.sources.base import InputError, Rejections, open_binary

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def real_lines(datasets: Path) -> list[bytes]:
    lines = (datasets / "logs" / "elastic-apache" / "apache_logs").read_bytes().split(b"\n")
    # line 8899 (index 8898) is truncated in the original; keep only complete lines here
    return [ln for i, ln in enumerate(lines[:2000]) if ln and i != 8898]


def run(module, path: Path, **options) -> tuple[pa.Table | None, Rejections]:
    """Read, allowing only InputError; return the table (None on InputError) and rejections."""
    rej = Rejections(max_samples=100_000)
    try:
        table = pa.Table.from_batches(list(module.read(path, rej, **options)), schema=REQUESTS)
    except InputError:
        return None, rej
    return table, rej


def lines_in(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_random_bytes(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("rb") / "x.log"
    p.write_bytes(data)
    accesslog.sniff(data)
    accesslog_json.sniff(data)
    for module in (accesslog, accesslog_json):
        table, rej = run(module, p)
        n = lines_in(data)
        assert table is not None
        assert table.num_rows + rej.count <= n
        assert all(1 <= s.where <= n for s in rej.samples)


garbage = st.binary(max_size=3000).map(lambda b: b"#" + b.replace(b"\n", b" "))


@SETTINGS
@given(
    picks=st.lists(st.one_of(st.integers(0, 1990), garbage, st.sampled_from([b"", b"  \t", b"\r"])), max_size=60),
    chunk=st.integers(64, 4096),
)
def test_good_lines_kept_bad_lines_counted(tmp_path_factory, real_lines, picks, chunk):
    """Real lines among garbage (binary, invalid UTF-8, NUL, over-long) and blank lines."""
    out, good, bad = [], 0, []
    for i, item in enumerate(picks, start=1):
        if isinstance(item, int):
            out.append(real_lines[item])
            good += 1
        else:
            out.append(item)
            if item.strip(b" \t\r"):
                bad.append(i)
    data = b"\n".join(out) + b"\n"
    p = tmp_path_factory.mktemp("mix") / "x.log"
    p.write_bytes(data)
    table, rej = run(accesslog, p, chunk_bytes=chunk, max_line=1000)
    assert table is not None
    assert table.num_rows == good
    assert [s.where for s in rej.samples] == bad
    assert {s.reason for s in rej.samples} <= {"not a auto access-log line", "line too long"}
    for s in rej.samples:
        if s.reason == "line too long":
            assert len(out[s.where - 1]) > 1000


@SETTINGS
@given(
    idx=st.integers(0, 1990),
    junk=st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b'"', b"").replace(b"\\", b"").replace(b"\n", b"")),
)
def test_invalid_utf8_and_nul_inside_a_field_keep_the_line(tmp_path_factory, real_lines, idx, junk):
    line = real_lines[idx]
    cut = line.rindex(b'"')  # just before the user agent's closing quote
    damaged = line[:cut] + junk + b"\x00\xff\xfe" + line[cut:]
    p = tmp_path_factory.mktemp("u8") / "x.log"
    p.write_bytes(line + b"\n" + damaged + b"\n" + line + b"\n")
    table, rej = run(accesslog, p)
    assert table is not None and rej.count == 0
    ua = table.column("user_agent").to_pylist()
    assert ua[1].startswith(ua[0] or "-") and ua[1].endswith("\x00\ufffd\ufffd")
    assert ua[0] == ua[2]


@pytest.mark.parametrize("chunk", [accesslog.CHUNK_BYTES, 1 << 20, 4096])
def test_ten_megabyte_line(tmp_path, real_lines, chunk):
    big = b"A" * (10 << 20)
    p = tmp_path / "big.log"
    p.write_bytes(real_lines[0] + b"\n" + big + b"\n" + real_lines[1] + b"\n" + big)
    for module in (accesslog, accesslog_json):
        table, rej = run(module, p, chunk_bytes=chunk)
        assert table is not None
        if module is accesslog:
            assert table.num_rows == 2
            assert [(s.where, s.reason) for s in rej.samples] == [(2, "line too long"), (4, "line too long")]
        else:
            assert [s.where for s in rej.samples if s.reason == "line too long"] == [2, 4]
        assert all(len(s.excerpt) <= 200 for s in rej.samples)


@SETTINGS
@given(cut=st.integers(0, 600_000))
def test_truncated_file(tmp_path_factory, datasets, cut):
    raw = (datasets / "logs" / "elastic-apache" / "apache_logs").read_bytes()[:cut]
    p = tmp_path_factory.mktemp("cut") / "x.log"
    p.write_bytes(raw)
    table, rej = run(accesslog, p)
    complete = raw.count(b"\n")
    assert table is not None
    # every complete line is good; only a cut last line may be rejected
    assert complete <= table.num_rows + rej.count <= lines_in(raw)
    assert table.num_rows >= complete
    assert all(s.where == complete + 1 for s in rej.samples)


@SETTINGS
@given(cut=st.integers(10, 400_000))
def test_truncated_gzip(tmp_path_factory, datasets, cut):
    raw = (datasets / "logs" / "elastic-apache" / "apache_logs").read_bytes()
    gz = gzip.compress(raw[:600_000])[:cut]
    p = tmp_path_factory.mktemp("gz") / "x.log.gz"
    p.write_bytes(gz)
    table, rej = run(accesslog, p)
    assert table is not None
    assert table.num_rows <= raw[:600_000].count(b"\n")
    assert rej.count <= 1


def _gzip_of_zeros(size: int, byte: bytes = b"\x00") -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    block = byte * (1 << 20)
    parts = [z.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + z.flush()


def test_gzip_bomb_is_bounded(tmp_path):
    p = tmp_path / "bomb.log.gz"
    p.write_bytes(_gzip_of_zeros(50 << 20))
    assert p.stat().st_size < 200_000
    with open_binary(p, limit=1 << 20) as f:
        assert len(f.read()) == 1 << 20  # the bound stops decompression
    for module in (accesslog, accesslog_json):
        table, rej = run(module, p)
        assert table is not None and table.num_rows == 0
        assert [(s.where, s.reason) for s in rej.samples] == [(1, "line too long")]


def test_bomb_of_newlines(tmp_path):
    p = tmp_path / "nl.log.gz"
    p.write_bytes(_gzip_of_zeros(1 << 20, b"\n"))
    for module in (accesslog, accesslog_json):
        table, rej = run(module, p)
        assert table is not None and (table.num_rows, rej.count) == (0, 0)


def test_missing_file_is_input_error(tmp_path):
    for module in (accesslog, accesslog_json):
        with pytest.raises(InputError):
            list(module.read(tmp_path / "nope.log", Rejections()))
        with pytest.raises(InputError):
            list(module.read(tmp_path, Rejections()))


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
keys = st.sampled_from(sorted({k for ks in accesslog_json.MAPPING.values() for k in ks} | {"request", "x"}))


@SETTINGS
@given(objs=st.lists(st.dictionaries(keys, json_value, max_size=8), max_size=20))
def test_json_objects_of_any_shape(tmp_path_factory, objs):
    lines = [json.dumps(o) for o in objs]
    p = tmp_path_factory.mktemp("js") / "x.json"
    p.write_text("\n".join(lines) + "\n")
    table, rej = run(accesslog_json, p)
    assert table is not None
    assert table.num_rows + rej.count == len(lines)
    assert sorted(s.where for s in rej.samples) == [s.where for s in rej.samples]


def test_json_deep_nesting_and_huge_numbers(tmp_path):
    good = json.dumps({"time": "2025-03-10T10:00:00Z", "remote_addr": "1.2.3.4", "status": 200})
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    lines = [good, deep, json.dumps({"time": 1e300, "remote_addr": "1.2.3.4"}), '{"time": "x", "remote_addr": 1e999}', good]
    p = tmp_path / "d.json"
    p.write_text("\n".join(lines) + "\n")
    assert accesslog_json.sniff(deep.encode()) is False
    table, rej = run(accesslog_json, p)
    assert table is not None
    assert table.num_rows == 2
    assert [s.where for s in rej.samples] == [2, 3, 4]


def test_a_chunk_that_raises_costs_only_its_bad_lines(real_lines):
    """The safety net: should parsing raise on a chunk, only the offending lines are lost."""
    spec = accesslog.builtin_spec("auto")

    def parse(lines):
        if lines["line"].str.contains("BOOM").any():
            raise RuntimeError("a bug no test foresaw")
        return accesslog.parse_lines(lines, spec)

    text = [real_lines[0].decode() + "\n", "BOOM\n", real_lines[1].decode() + "\n"]
    batch, rej = accesslog.guarded(parse)(pl.DataFrame({"n": [1, 2, 3], "line": text}))
    assert batch is not None and batch.num_rows == 2
    assert rej.rows() == [(2, "unreadable line (RuntimeError)", "BOOM")]


def test_a_chunk_with_a_few_bad_lines_keeps_every_other_line_in_order(real_lines):
    """Halving finds a few bad lines among many: every other line is read, in file order, with
    far fewer parses than one per line."""
    spec = accesslog.builtin_spec("auto")
    calls = 0

    def parse(lines):
        nonlocal calls
        calls += 1
        if lines["line"].str.contains("BOOM").any():
            raise RuntimeError("a bug no test foresaw")
        return accesslog.parse_lines(lines, spec)

    good = [ln.decode() + "\n" for ln in real_lines[:2000]]
    assert len(good) == 2000
    bad_at = {17, 1000, 1999}
    text = ["BOOM\n" if i in bad_at else good[i] for i in range(2000)]
    batch, rej = accesslog.guarded(parse)(pl.DataFrame({"n": list(range(1, 2001)), "line": text}))
    assert batch is not None and batch.num_rows == 1997
    assert [r[0] for r in rej.rows()] == [i + 1 for i in sorted(bad_at)]
    whole, _ = accesslog.parse_lines(pl.DataFrame({"n": list(range(1, 1998)), "line": [t for t in text if t != "BOOM\n"]}), spec)
    assert batch.column("ts").to_pylist() == whole["ts"].to_list()  # file order kept
    assert calls < 200


def test_a_fault_on_every_line_is_bounded(real_lines, monkeypatch):
    """A fault that hits every line is rejected in bounded work, every line counted."""
    monkeypatch.setattr(accesslog, "MAX_RETRIES", 64)
    calls = 0

    def parse(lines):
        nonlocal calls
        calls += 1
        raise RuntimeError("broken everywhere")

    text = [ln.decode() + "\n" for ln in real_lines * 3]
    n = len(text)
    batch, rej = accesslog.guarded(parse)(pl.DataFrame({"n": list(range(1, n + 1)), "line": text}))
    assert batch is None
    assert rej.height == n and rej["n"].to_list() == list(range(1, n + 1))
    assert set(rej["reason"]) == {"unreadable line (RuntimeError)"}
    assert calls <= 64 + 1


def _read_both(path: Path, **options) -> None:
    """The compiled scanner, the plain path and the regexes alone agree on every value and
    every rejection."""
    out = []
    try:
        for native, plain in ((True, True), (False, True), (False, False)):
            accesslog.NATIVE, accesslog.PLAIN = native, plain
            table, rej = run(accesslog, path, **options)
            assert table is not None
            out.append((table, [(s.where, s.reason, s.excerpt) for s in rej.samples], rej.count))
    finally:
        accesslog.NATIVE, accesslog.PLAIN = True, True
    t0, s0, c0 = out[-1]
    for t1, s1, c1 in out[:-1]:
        assert (c1, s1) == (c0, s0)
        for name in t0.column_names:
            a, b = t1.column(name), t0.column(name)
            if pa.types.is_timestamp(a.type):  # as stored: a time beyond datetime's range has no Python value
                a, b = a.cast(pa.int64()), b.cast(pa.int64())
            assert a.equals(b), name


# What breaks the plain shape: the bytes it is cut at, whitespace \S refuses, escapes, digits
# \d takes that a cast does not, a quote or bracket out of place.
hostile_char = st.sampled_from([" ", '"', "\\", "[", "]", "\t", "\r", "\x00", "\x0b", "\u00a0", "\u2028", "٣", "-", "0", "9", "é", "/", ":", "+",
                                # and for the compiled scanner: the address's dots and digits, the
                                # month's case, the time's digits
                                ".", "1", "2", "5", "a", "A", "M"])


@st.composite
def mutated(draw, real_lines: list[bytes]) -> str:
    line = real_lines[draw(st.integers(0, len(real_lines) - 1))].decode()
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(line)))
        op = draw(st.sampled_from(["insert", "replace", "delete"]))
        c = draw(hostile_char)
        line = line[:i] + (c if op != "delete" else "") + line[i + (op != "insert") :]
    return line


@SETTINGS
@given(data=st.data(), fmt=st.sampled_from(["auto", "combined", "common"]), strict=st.booleans(),
       columns=st.sampled_from([None, ("ts", "src_ip", "method", "path", "status", "bytes", "user_agent")]))
def test_plain_path_equals_the_regexes(tmp_path_factory, real_lines, data, fmt, strict, columns):
    lines = data.draw(st.lists(mutated(real_lines), min_size=1, max_size=40))
    p = tmp_path_factory.mktemp("plain") / "x.log"
    p.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    _read_both(p, fmt=fmt, strict=strict, columns=columns)
