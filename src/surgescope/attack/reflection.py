"""The reflection port table (``surgescope/data/reflection.csv``): which source port names
which reflected service, its typical response size and amplification factor, and the
published source for each row.

Amplification factors are the published bandwidth amplification factors of the cited source
where it gives one (CISA TA14-017A for most); a ``~`` marks an order-of-magnitude figure from
vendor threat summaries. ``response_bytes`` is a typical answer size, used by the generator and
as context in reports, never as a detection threshold (real answers vary: the SNMP capture in
the shared data has a median of 54 bytes).

UDP rows name a ``<service>-amplification`` vector by source port. The TCP rows document
SYN-ACK reflection (``tcp-reflection``); that vector is recognised by its flags (SYN+ACK
without a SYN of ours), from any source port, the listed ports are only the common ones the
generator uses.

>>> t = table()
>>> vector_of_udp_port()[161]
'snmp-amplification'
>>> int(t.filter(t["service"] == "memcached")["port"][0])
11211
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import polars as pl


@cache
def table() -> pl.DataFrame:
    """The whole table: service, vector, proto, port, amplification, response_bytes, reference."""
    text = resources.files("surgescope.data").joinpath("reflection.csv").read_bytes()
    return pl.read_csv(text, schema_overrides={"port": pl.Int32, "response_bytes": pl.Int32})


@cache
def vector_of_udp_port() -> dict[int, str]:
    """UDP source port -> ``<service>-amplification`` vector."""
    t = table().filter(pl.col("proto") == "udp")
    return dict(zip(t["port"].to_list(), t["vector"].to_list(), strict=True))


@cache
def service_row(service: str) -> dict:
    """One row by service name (``dns``, ``ntp`` ...) or by vector name."""
    t = table().filter((pl.col("service") == service) | (pl.col("vector") == service))
    if t.height == 0:
        raise KeyError(f"no reflection service {service!r}")
    return t.row(0, named=True)


def udp_services() -> list[str]:
    """Service names of the UDP rows, one per vector (``ipsec`` once, though it has two ports)."""
    t = table().filter(pl.col("proto") == "udp").unique("vector", keep="first", maintain_order=True)
    return t["service"].to_list()
