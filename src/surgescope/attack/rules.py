"""Mitigation rules from a report: nftables, ipset (``ipset restore`` input) or nginx.

What gets blocked, per attack of ``report["attacks"]``:

- Reflection (``<service>-amplification``, ``tcp-reflection``): the reflected service's
  source port and protocol toward the victim (``udp sport 53`` to the target), never the
  reflectors one by one: they are thousands of innocent, abused servers and the next wave uses
  others. For TCP reflection, SYN-ACKs from those ports that conntrack does not know.
- Floods with spoofed sources (the report notes spoofing): blocking source addresses is
  useless; nftables gets a per-target rate limit for the flood's packets instead.
- Everything else (HTTP floods, botnets): the attacking sources (the report's
  ``block_sources``: every source of the attack's HTTP floods and of its direct floods from
  unforged addresses; ``top_sources`` for reports without it), aggregated into a /24 (IPv4) or
  /64 (IPv6) where at least ``aggregate_min`` sources share one.

The allowlist (CIDRs never blocked: your monitoring, CDNs, speed-test servers) always wins:
an allowlisted address is never blocked, and a prefix that overlaps an allowlisted network is
split around it (``ipaddress.address_exclude``). Every address and name read from the report is
re-validated, so a hostile report.json cannot inject rule text.

>>> rep = {"attacks": [{"vector": "http-flood", "target": "203.0.113.5",
...         "top_sources": [{"ip": f"198.51.100.{i}"} for i in range(1, 6)]}]}
>>> out = render(rep, "nginx", ["198.51.100.3/32"])
>>> [line for line in out.splitlines() if line.startswith("deny")][:3]
['deny 198.51.100.0/31;', 'deny 198.51.100.2;', 'deny 198.51.100.4/30;']
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from pathlib import Path

from surgescope.attack import DIRECT_FLOODS, reflection

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_VECTOR = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,24}$")
SPOOFABLE = DIRECT_FLOODS


def read_allowlist(path: str | Path) -> list[str]:
    """CIDRs (or addresses), one per line; ``#`` starts a comment. Raises ValueError on a bad line."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ValueError(f"{path}:{n}: not an address or CIDR: {text[:60]!r}") from None
    return out


def _addr(text) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        a = ipaddress.ip_address(str(text))
    except ValueError:
        return None
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped:
        return a.ipv4_mapped
    return a


def _aggregate(addrs: list, aggregate_min: int) -> list[Net]:
    """Addresses -> networks: a /24 (/64) where >= aggregate_min share it, else /32 (/128)."""
    groups: dict[Net, list] = defaultdict(list)
    for a in addrs:
        groups[ipaddress.ip_network(f"{a}/{24 if a.version == 4 else 64}", strict=False)].append(a)
    nets: list[Net] = []
    for net, members in groups.items():
        if len(members) >= aggregate_min:
            nets.append(net)
        else:
            nets.extend(ipaddress.ip_network(a) for a in members)
    return nets


def _exclude(nets: list[Net], allow: list[Net]) -> list[Net]:
    """Remove allowlisted networks from ``nets``, splitting prefixes around them."""
    out: list[Net] = []
    for n in nets:
        parts = [n]
        for a in allow:
            if a.version != n.version:
                continue
            nxt = []
            for p in parts:
                if p.subnet_of(a):
                    continue  # wholly allowlisted
                if a.subnet_of(p):
                    nxt.extend(p.address_exclude(a))
                else:
                    nxt.append(p)
            parts = nxt
        out.extend(parts)
    v4 = list(ipaddress.collapse_addresses([n for n in out if n.version == 4]))
    v6 = list(ipaddress.collapse_addresses([n for n in out if n.version == 6]))
    return v4 + v6


def _vectors(attack: dict) -> list[str]:
    """The attack's main vector, then the others of ``vectors[]``, each once."""
    out = [str(attack.get("vector", ""))]
    for v in attack.get("vectors") or []:
        name = str(v.get("vector", "")) if isinstance(v, dict) else ""
        if name and name not in out:
            out.append(name)
    return out


def _spoofed(attack: dict) -> bool:
    """The analysis noted spoofing, or the attribution found forged sources in this attack."""
    att = attack.get("attribution") if isinstance(attack.get("attribution"), dict) else {}
    return (any("spoof" in str(n) for n in attack.get("notes") or [])
            or bool(att.get("spoofing_suspected"))
            or bool((att.get("source_classes") or {}).get("forged")))


def plan(report: dict, allowlist: list[str], aggregate_min: int = 4) -> dict:
    """What to block: ``sources`` (networks), ``ports`` (target, proto, ports, vector) and
    ``limits`` (target, vector) for spoofed floods; ``notes`` explain choices."""
    allow = [ipaddress.ip_network(a, strict=False) for a in allowlist]
    addrs, ports, limits, notes, http = [], [], [], [], False
    for a in report.get("attacks") or []:
        target = _addr(a.get("target"))
        spoofed = _spoofed(a)
        # The analysis judges each direct flood's sources (vectors[].spoofed); reports without
        # that judgement fall back on the attack's notes and attribution.
        judged = {v.get("vector"): v.get("spoofed") for v in a.get("vectors") or [] if isinstance(v, dict)}
        block_sources = False
        # Every vector of the attack gets its rule, not only the main one: a botnet HTTP flood
        # beside a spoofed SYN flood and a DNS reflection needs all three.
        for vector in _vectors(a):
            if not _VECTOR.match(vector):
                notes.append("skipped an attack with an invalid vector name")
                continue
            if vector.endswith("-amplification") or vector == "tcp-reflection":
                if target is None:
                    notes.append(f"{vector}: no valid target address in the report; nothing to block")
                    continue
                if vector == "tcp-reflection":
                    rs = a.get("reflected_service") or {}
                    pp = sorted({int(p) for p in rs.get("ports") or [80, 443] if str(p).isdigit() and 0 < int(p) < 65536})
                    ports.append({"target": target, "proto": "tcp", "ports": pp or [80, 443], "vector": vector})
                else:
                    rows = reflection.table()
                    pp = sorted(int(p) for p in rows.filter(rows["vector"] == vector)["port"].to_list())
                    if not pp:
                        notes.append(f"{vector}: not in the reflection table; nothing to block")
                        continue
                    ports.append({"target": target, "proto": "udp", "ports": pp, "vector": vector})
                continue
            forged = spoofed if judged.get(vector) is None else bool(judged[vector])
            if vector in SPOOFABLE and forged:
                if target is not None:
                    # One destination port that takes (nearly) all of it narrows the limit to it.
                    tp = [p for p in a.get("target_ports") or [] if isinstance(p, dict)]
                    port = tp[0].get("port") if tp and float(tp[0].get("share", 0)) >= 0.9 else None
                    port = int(port) if isinstance(port, int) and 0 < port < 65536 else None
                    limits.append({"target": target, "vector": vector, "port": port})
                notes.append(f"{vector} on {target}: sources are spoofed, blocking them is useless; rate limit instead")
                continue
            http = http or vector in ("http-flood", "slow-http")
            block_sources = True
        if not block_sources:
            continue
        # Every source the analysis listed as worth blocking (HTTP-flood sources and direct
        # floods from real addresses; never reflectors or forged addresses), else the top ones.
        # ``web_sources`` is what reports of an earlier version call that list.
        listed = (a.get("block_sources") or a.get("web_sources")
                  or [s.get("ip") if isinstance(s, dict) else s for s in a.get("top_sources") or []])
        for s in listed:
            ip = _addr(s)
            if ip is None:
                notes.append("skipped an invalid source address")
                continue
            if any(ip in n for n in allow):
                notes.append(f"{ip} is allowlisted: not blocked")
                continue
            addrs.append(ip)
    sources = _exclude(_aggregate(sorted(set(addrs), key=lambda a: (a.version, int(a))), aggregate_min), allow)
    # Waves of one attack repeat the same rules: each once, in first-seen order.
    ports = list({(r["target"], r["proto"], tuple(r["ports"])): r for r in reversed(ports)}.values())[::-1]
    limits = list({(r["target"], r["vector"], r["port"]): r for r in reversed(limits)}.values())[::-1]
    notes = list(dict.fromkeys(notes))
    return {"sources": sources, "ports": ports, "limits": limits, "notes": notes, "http": http, "allow": allow}


def _elements(nets: list[Net]) -> str:
    return ", ".join(str(n) if n.prefixlen < n.max_prefixlen else str(n.network_address) for n in nets)


def _nftables(p: dict, name: str) -> str:
    v4 = [n for n in p["sources"] if n.version == 4]
    v6 = [n for n in p["sources"] if n.version == 6]
    lines = ["# surgescope mitigation rules (nftables). Load with: nft -f FILE", f"table inet {name} {{"]
    lines += ["\tset blocklist_v4 {\n\t\ttype ipv4_addr\n\t\tflags interval"
              + (f"\n\t\telements = {{ {_elements(v4)} }}" if v4 else "") + "\n\t}"]
    lines += ["\tset blocklist_v6 {\n\t\ttype ipv6_addr\n\t\tflags interval"
              + (f"\n\t\telements = {{ {_elements(v6)} }}" if v6 else "") + "\n\t}"]
    lines += ["\tchain prerouting {", "\t\ttype filter hook prerouting priority -300; policy accept;"]
    for a in p["allow"]:
        fam = "ip" if a.version == 4 else "ip6"
        lines.append(f"\t\t{fam} saddr {a} accept comment \"allowlisted\"")
    lines += ["\t\tip saddr @blocklist_v4 drop", "\t\tip6 saddr @blocklist_v6 drop"]
    for r in p["ports"]:
        fam = "ip" if r["target"].version == 4 else "ip6"
        ports = "{ " + ", ".join(map(str, r["ports"])) + " }" if len(r["ports"]) > 1 else str(r["ports"][0])
        if r["proto"] == "udp":
            lines.append(f"\t\t{fam} daddr {r['target']} udp sport {ports} drop comment \"{r['vector']}\"")
        else:
            lines.append(f"\t\t{fam} daddr {r['target']} tcp sport {ports} tcp flags & (syn | ack) == syn | ack "
                         f"ct state invalid drop comment \"{r['vector']}\"")
    match = {"syn-flood": "tcp flags & (syn | ack) == syn", "ack-flood": "tcp flags & (syn | ack | rst | fin) == ack",
             "rst-flood": "tcp flags & rst == rst", "udp-flood": "meta l4proto udp",
             "icmp-flood": "meta l4proto { icmp, ipv6-icmp }", "ip-fragment": "ip frag-off & 0x1fff != 0"}
    for r in p["limits"]:
        fam = "ip" if r["target"].version == 4 else "ip6"
        port = ""
        if r.get("port") and r["vector"] in ("syn-flood", "ack-flood", "rst-flood"):
            port = f" tcp dport {r['port']}"
        elif r.get("port") and r["vector"] == "udp-flood":
            port = f" udp dport {r['port']}"
        lines.append(f"\t\t{fam} daddr {r['target']}{port} {match[r['vector']]} limit rate over 10000/second drop "
                     f"comment \"{r['vector']} (spoofed sources)\"")
    lines += ["\t}", "}"]
    lines += [f"# {n}" for n in p["notes"]]
    return "\n".join(lines) + "\n"


def _ipset(p: dict, name: str) -> str:
    lines = ["# surgescope mitigation sets (ipset restore input). Load with: ipset restore < FILE",
             f"# then: iptables -I INPUT -m set --match-set {name}-v4 src -j DROP",
             f"#       ip6tables -I INPUT -m set --match-set {name}-v6 src -j DROP",
             f"#       iptables -I INPUT -m set --match-set {name}-refl dst,src -j DROP"]
    lines.append(f"create {name}-v4 hash:net family inet -exist")
    lines.append(f"create {name}-v6 hash:net family inet6 -exist")
    for n in p["sources"]:
        lines.append(f"add {name}-v{'4' if n.version == 4 else '6'} {n} -exist")
    if p["ports"]:
        # Victim address + reflected source port: matched as "dst,src" by iptables.
        lines.append(f"create {name}-refl hash:ip,port family inet -exist")
        if any(r["target"].version == 6 for r in p["ports"]):
            lines.append(f"create {name}-refl6 hash:ip,port family inet6 -exist")
        if any(r["proto"] == "tcp" for r in p["ports"]):
            lines.append("# tcp-reflection: without conntrack this also drops answers to the target's own "
                         "connections to those ports; prefer the nftables rule (ct state invalid)")
        for r in p["ports"]:
            s = f"{name}-refl" if r["target"].version == 4 else f"{name}-refl6"
            for port in r["ports"]:
                lines.append(f"add {s} {r['target']},{r['proto']}:{port} -exist")
    lines += [f"# {n}" for n in p["notes"]]
    lines += [f"# spoofed {r['vector']} on {r['target']}: rate limit it (see the nftables output)" for r in p["limits"]]
    return "\n".join(lines) + "\n"


def _nginx(p: dict) -> str:
    lines = ["# surgescope: nginx access rules (include in http, server or location context)"]
    for a in p["allow"]:
        lines.append(f"allow {a};")
    for n in p["sources"]:
        lines.append(f"deny {n if n.prefixlen < n.max_prefixlen else n.network_address};")
    if p["ports"] or p["limits"]:
        lines.append("# volumetric (L3/L4) vectors cannot be stopped in nginx: use the nftables or ipset output")
    lines += [f"# {n}" for n in p["notes"]]
    return "\n".join(lines) + "\n"


def render(report: dict, fmt: str, allowlist: list[str], name: str = "surgescope", aggregate_min: int = 4) -> str:
    """Rules for the attacks of ``report`` in ``fmt`` (nftables, ipset, nginx)."""
    if not _NAME.match(name):
        raise ValueError(f"bad table/set name {name!r}")
    p = plan(report, allowlist, aggregate_min)
    if fmt == "nftables":
        return _nftables(p, name)
    if fmt == "ipset":
        return _ipset(p, name)
    if fmt == "nginx":
        return _nginx(p)
    raise ValueError(f"unknown rule format {fmt!r} (nftables, ipset, nginx)")
