"""Small text fixtures in the formats the shared datasets lack: nfdump CSV, Zeek conn.log
(TSV and JSON lines), crowd-report CSV/JSON lines, and a JSON access log for sniffing.

Each writer takes plain records whose values the tests state by hand, so expected reader
output is known independently of the readers. Layouts follow the tools' documentation and
source: nfdump's ``output_csv.c`` (1.6/1.7 header and 1.7.5+ ``-o csv`` header, the
``Summary`` block), Zeek's ASCII writer (``#separator \\x09`` ... ``#close``).
"""

from __future__ import annotations

import json
from pathlib import Path

NFDUMP16_HEADER = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,"
    "nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,"
    "mpls9,mpls10,cl,sl,al,ra,eng,exid,tr"
)
NFDUMP175_HEADER = "firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows"


def nfdump_line_16(f: dict) -> str:
    """One nfdump 1.6/1.7 ``-o csv`` record. ``f``: ts, te, td, sa, da, sp, dp, pr, flg, ipkt,
    ibyt, opkt, obyt (strings or numbers as nfdump prints them)."""
    tail = (["0", "0", "24", "32", "0", "0", "0.0.0.0", "0.0.0.0", "0", "0"]
            + ["00:00:00:00:00:00"] * 4 + ["0-0-0"] * 10
            + ["0.000", "0.000", "0.000", "192.168.1.1", "0/0", "1", "1970-01-01 00:00:00.000"])
    head = [f["ts"], f["te"], f["td"], f["sa"], f["da"], f["sp"], f["dp"], f["pr"], f["flg"], "0", "0",
            f["ipkt"], f["ibyt"], f["opkt"], f["obyt"], "1", "2"]
    return ",".join(str(x) for x in head + tail)


def nfdump_csv_16(flows: list[dict], summary: bool = True) -> str:
    lines = [NFDUMP16_HEADER] + [nfdump_line_16(f) for f in flows]
    if summary:
        pk = sum(int(f["ipkt"]) + int(f["opkt"]) for f in flows)
        by = sum(int(f["ibyt"]) + int(f["obyt"]) for f in flows)
        lines += ["Summary", "flows,bytes,packets,avg_bps,avg_pps,avg_bpp", f"{len(flows)},{by},{pk},0,0,0"]
    return "\n".join(lines) + "\n"


def nfdump_csv_175(flows: list[dict]) -> str:
    """nfdump >= 1.7.5 predefined ``-o csv``: %ts,%td,%pr,%sa,%sp,%da,%dp,%pkt,%byt,%fl."""
    rows = [",".join(str(f[k]) for k in ("ts", "td", "pr", "sa", "sp", "da", "dp", "ipkt", "ibyt")) + ",1"
            for f in flows]
    return "\n".join([NFDUMP175_HEADER, *rows]) + "\n"


ZEEK_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
               "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
               "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
               "tunnel_parents"]
ZEEK_TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count",
              "count", "string", "bool", "bool", "count", "string", "count", "count", "count", "count",
              "set[string]"]


def zeek_tsv(conns: list[dict]) -> str:
    """A conn.log as Zeek's ASCII writer lays it out; missing values print as ``-``."""
    head = [
        "#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
        "#path\tconn", "#open\t2011-11-03-00-19-26",
        "#fields\t" + "\t".join(ZEEK_FIELDS), "#types\t" + "\t".join(ZEEK_TYPES),
    ]
    rows = ["\t".join(str(c.get(k, "-")) for k in ZEEK_FIELDS) for c in conns]
    return "\n".join(head + rows + ["#close\t2011-11-03-00-19-27"]) + "\n"


def zeek_json(conns: list[dict]) -> str:
    """A conn.log with ``LogAscii::use_json=T``: absent values are absent keys."""
    return "".join(json.dumps({k: c[k] for k in ZEEK_FIELDS if k in c}) + "\n" for c in conns)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def access_log_jsonl(n: int = 3) -> str:
    """An nginx-style JSON access log (the access-log reader's format, not reports)."""
    return "".join(
        json.dumps({"time": f"2025-03-10T14:0{i}:00+00:00", "remote_addr": f"198.51.100.{i}",
                    "request": "GET / HTTP/1.1", "status": 200, "body_bytes_sent": 512,
                    "http_user_agent": "curl/8"}) + "\n"
        for i in range(n)
    )


def web_conns(n: int, t0: float, span_s: float, seed: int = 0, target: str = "192.0.2.80",
              long_downloads: int = 0) -> list[dict]:
    """``n`` ordinary web connections (Zeek conn.log records) from ``n // 4`` clients over
    ``span_s`` seconds from epoch ``t0``: short page loads (0.05-3 s, a few kB up, tens of kB
    down), plus ``long_downloads`` transfers that last 30-120 s and bring back 20-200 MB."""
    import random

    rnd = random.Random(seed)
    clients = [f"198.51.{100 + i // 250}.{1 + i % 250}" for i in range(max(1, n // 4))]
    out = []
    for i in range(n + long_downloads):
        long = i >= n
        dur = rnd.uniform(30, 120) if long else rnd.uniform(0.05, 3.0)
        ob = rnd.randint(300, 2000)
        rb = rnd.randint(20, 200) * 1_000_000 if long else rnd.randint(2_000, 80_000)
        op, rp = 4 + ob // 1400 + rb // 2800, 3 + rb // 1400
        out.append({"ts": f"{t0 + rnd.uniform(0, span_s):.6f}", "uid": f"C{i:07d}", "id.orig_h": rnd.choice(clients),
                    "id.orig_p": rnd.randint(1024, 65535), "id.resp_h": target, "id.resp_p": 443 if i % 2 else 80,
                    "proto": "tcp", "service": "http", "duration": f"{dur:.6f}", "orig_bytes": ob, "resp_bytes": rb,
                    "conn_state": "SF", "history": "ShADadFf", "orig_pkts": op, "orig_ip_bytes": ob + 52 * op,
                    "resp_pkts": rp, "resp_ip_bytes": rb + 52 * rp})
    return out


def slowloris_conns(sources: list[str], conns: int, t0: float, cycles: int, timeout_s: float = 60.0,
                    seed: int = 1, target: str = "192.0.2.80", port: int = 80) -> list[dict]:
    """Slowloris as Zeek sees it: every source opens ``conns`` connections within 5 s, sends a
    partial request (about 230 bytes) and then one 20-byte header line every 15 s; the server
    answers nothing and closes each connection at ``timeout_s``; the source then reopens them
    (``cycles`` times). Each record lasts about the timeout, with a few packets and bytes."""
    import random

    rnd = random.Random(seed)
    out = []
    for c in range(cycles):
        for s in sources:
            for _ in range(conns):
                start = t0 + c * (timeout_s + 1) + rnd.uniform(0, 5)
                lines = int(timeout_s // 15)
                ob = 230 + 20 * lines
                op, rp = 3 + lines, 2 + lines  # handshake, request, header lines / ACKs, FIN
                out.append({"ts": f"{start:.6f}", "uid": f"S{len(out):07d}", "id.orig_h": s,
                            "id.orig_p": rnd.randint(1024, 65535), "id.resp_h": target, "id.resp_p": port,
                            "proto": "tcp", "service": "http", "duration": f"{timeout_s + rnd.uniform(0, 0.01):.6f}",
                            "orig_bytes": ob, "resp_bytes": 0, "conn_state": "SF", "history": "ShADaFf",
                            "orig_pkts": op, "orig_ip_bytes": ob + 52 * op, "resp_pkts": rp, "resp_ip_bytes": 52 * rp})
    return out


def cicflowmeter_rows(header: list[str], flows: list[dict]) -> str:
    """CSV rows (no header) under a CICFlowMeter ``header``: each flow gives some columns by
    their header names; every other column is written as 0."""
    return "".join(",".join(str(f.get(h, 0)) for h in header) + "\n" for f in flows)


def slowloris_cic(n: int, start: str, span_s: float, src: str = "172.16.0.1", dst: str = "192.168.10.50",
                  seed: int = 2) -> list[dict]:
    """``n`` slowloris flows as CICFlowMeter records them (CIC-IDS2017 header names): started
    uniformly over ``span_s`` seconds from ``start`` (``YYYY-MM-DD HH:MM:SS``), each open 60-120 s
    (CICFlowMeter's flow timeout is 120 s) with a partial request and a header line every 15 s
    (payload bytes forward), bare ACKs back (no payload), label ``DoS Slowloris``."""
    import random
    from datetime import datetime, timedelta

    rnd = random.Random(seed)
    t0 = datetime.fromisoformat(start)
    out = []
    for i in range(n):
        ts = t0 + timedelta(seconds=rnd.uniform(0, span_s))
        dur = rnd.uniform(60, 120)
        lines = int(dur // 15)
        sport = rnd.randint(1024, 65535)
        out.append({"id": 9_000_000 + i, "Flow ID": f"{src}-{dst}-{sport}-80-6", "Src IP": src, "Src Port": sport,
                    "Dst IP": dst, "Dst Port": 80, "Protocol": 6, "Timestamp": ts.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    "Flow Duration": int(dur * 1e6), "Total Fwd Packet": 3 + lines, "Total Bwd packets": 2 + lines,
                    "Total Length of Fwd Packet": 230 + 20 * lines, "Total Length of Bwd Packet": 0,
                    "SYN Flag Count": 1, "ACK Flag Count": 1, "Label": "DoS Slowloris"})
    return out
