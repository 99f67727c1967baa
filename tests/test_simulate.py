"""The traffic generator and the pcap writer, checked by independent decoders (tshark and the
project's pcap reader) and by properties of real traffic the generator claims to model."""

import json
import subprocess

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from surgescope.cli import app
from surgescope.simulate import SCENARIOS
from surgescope.simulate.packets import Phase, generate, random_public_v4, vectors
from surgescope.simulate.pcapwriter import write
from surgescope.sources import open_input

MIX = [
    Phase("normal", duration=2, rate=300),
    Phase("dns-amplification", duration=1, rate=200),  # ~3000-byte answers: fragmented
    Phase("syn-flood", duration=1, rate=200),
    Phase("icmp-flood", duration=1, rate=100),
    Phase("udp-flood", duration=1, rate=100, sources=["2001:db8::7", "2001:db8::8"], target="2001:db8::1"),
]


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    table = generate(MIX, seed=4)
    path = tmp_path_factory.mktemp("sim") / "mix.pcap"
    write(table, path)
    return table, path


def test_pcap_reads_back_identically(mix):
    table, path = mix
    inp = open_input(path)
    back = inp.read_all()
    assert inp.rejections.count == 0
    assert pl.from_arrow(back).equals(pl.from_arrow(table))


def test_tshark_sees_the_same_fields(mix):
    table, path = mix
    fields = ["frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "udp.srcport",
              "tcp.dstport", "udp.dstport", "tcp.flags", "ip.len", "ip.frag_offset", "ip.flags.mf"]
    out = subprocess.run(
        ["tshark", "-r", str(path), "-o", "ip.defragment:FALSE", "-T", "fields", "-E", "separator=|",
         *sum((["-e", f] for f in fields), [])],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert len(out) == table.num_rows
    df = pl.from_arrow(table)
    rng = np.random.default_rng(0)
    for i in rng.choice(len(out), size=300, replace=False):
        f = dict(zip(fields, out[i].split("|"), strict=True))
        row = df.row(int(i), named=True)
        assert (f["ip.src"] or f["ipv6.src"]) == row["src_ip"]
        assert (f["ip.dst"] or f["ipv6.dst"]) == row["dst_ip"]
        sport = f["tcp.srcport"] or f["udp.srcport"]
        assert (int(sport) if sport else None) == row["src_port"]
        dport = f["tcp.dstport"] or f["udp.dstport"]
        assert (int(dport) if dport else None) == row["dst_port"]
        if row["proto"] == 6:
            assert int(f["tcp.flags"], 16) == row["tcp_flags"]
        if row["ip_version"] == 4:
            assert int(f["ip.len"]) == row["ip_len"]
            assert int(f["ip.frag_offset"]) == row["frag_offset"]  # this tshark shows 8-byte units
            assert (f["ip.flags.mf"] in ("1", "True")) == row["frag_more"]


def test_checksums_are_valid(mix):
    _, path = mix
    out = subprocess.run(
        ["tshark", "-r", str(path), "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
         "-o", "udp.check_checksum:TRUE", "-o", "ip.defragment:FALSE",
         "-Y", "ip.checksum.status==0 || tcp.checksum.status==0 || udp.checksum.status==0 || icmp.checksum.status==0",
         "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert out == []  # status 0 is "Bad"


def test_large_answers_are_fragmented_like_the_wire():
    df = pl.from_arrow(generate([Phase("dns-amplification", duration=1, rate=300)], seed=1))
    later = df.filter(pl.col("frag_offset") > 0)
    assert later.height > 0
    assert later["src_port"].null_count() == later.height  # no ports in non-first fragments
    assert df["ip_len"].max() <= 1500
    assert set(df.filter(pl.col("frag_offset") == 0)["src_port"].unique().to_list()) == {53}


def test_spoofed_versus_pooled_ttls():
    spoofed = pl.from_arrow(generate([Phase("syn-flood", duration=1, rate=3000)], seed=1))
    assert spoofed["src_ip"].n_unique() > 0.99 * spoofed.height
    assert spoofed["ttl"].n_unique() > 150  # random TTLs
    bots = [f"198.51.100.{i}" for i in range(1, 51)]
    pooled = pl.from_arrow(generate([Phase("http-flood", duration=3, rate=3000, sources=bots)], seed=1))
    incoming = pooled.filter(pl.col("src_ip").is_in(bots))
    # A real host keeps one TTL (its initial TTL minus its hop count).
    assert incoming.group_by("src_ip").agg(pl.col("ttl").n_unique())["ttl"].max() == 1
    # Full handshakes: each bot's SYNs are answered by SYN-ACKs from the target.
    synacks = pooled.filter((pl.col("tcp_flags") == 0x12) & pl.col("dst_ip").is_in(bots)).height
    syns = incoming.filter(pl.col("tcp_flags") == 0x02).height
    assert syns == synacks > 0


def test_pool_weights_and_wave_envelope():
    pool = ["192.0.2.1", "192.0.2.2"]
    df = pl.from_arrow(generate([Phase("syn-flood", duration=20, rate=2000, sources=pool, weights=[3, 1],
                                       wave=(10.0, 1.0))], seed=3))
    share = (df["src_ip"] == "192.0.2.1").mean()
    assert 0.72 < share < 0.78
    per_s = df.group_by(pl.col("ts").dt.truncate("1s")).len().sort("ts")["len"].to_numpy()
    # Raised cosine of period 10 s and depth 1: near 0 at 0 s and 10 s, the peak rate at 5 s.
    assert per_s[5] > 1800 and per_s[0] < 200 and per_s[10] < 200


def test_public_sources_avoid_special_ranges():
    import ipaddress

    addrs = [ipaddress.ip_address(int(a)) for a in random_public_v4(np.random.default_rng(0), 20_000)]
    assert all(a.is_global and not a.is_multicast for a in addrs)


def test_file_size_is_exact(tmp_path):
    # 24-byte file header; per packet a 16-byte record header, 14 Ethernet, ip_len IP bytes.
    table = generate([Phase("syn-flood", duration=1, rate=50_000)], seed=1)
    assert write(table, tmp_path / "m.pcap") == table.num_rows
    expected = 24 + table.num_rows * (16 + 14) + int(pl.from_arrow(table)["ip_len"].sum())
    assert (tmp_path / "m.pcap").stat().st_size == expected


def test_every_vector_generates():
    for v in vectors():
        t = generate([Phase(v, duration=0.5, rate=400)], seed=2)
        assert t.num_rows > 0, v


def test_cli_simulate(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["simulate", "list"])
    assert r.exit_code == 0
    assert "snmp-amplification" in r.output and "flash-crowd" in r.output
    out = tmp_path / "ntp.pcap"
    r = runner.invoke(app, ["simulate", "ntp-amplification", "--out", str(out), "--scale", "0.05"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert open_input(out).read_all().num_rows == info["packets"]
    r = runner.invoke(app, ["simulate", "no-such-thing", "--out", str(out)])
    assert r.exit_code == 2


def test_scenarios_list_is_complete():
    from surgescope.attack import reflection

    needed = {"syn-flood", "tcp-reflection", "http-flood", "botnet", "download", "speedtest", "flash-crowd", "normal",
              "slow-http"}
    needed |= {reflection.service_row(s)["vector"] for s in reflection.udp_services()}
    assert needed <= set(SCENARIOS)
