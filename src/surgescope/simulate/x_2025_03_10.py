"""Simulated attack traffic for the 10 March 2025 demo: a multi-vector DDoS in four waves.

This is **simulated traffic**, made by the project's own generator
(:mod:`surgescope.simulate.packets`), not a capture of the real attack on X (none is public).
It illustrates how surgescope reads such an attack; nothing measured on it is a finding about
the real one.

What it holds (times UTC; US Eastern was UTC-4 that day):

- normal web traffic to the victim's front end from ``NORMAL_CLIENTS`` clients all day;
- four attack phases, each starting a few minutes before a wave of the reconstructed
  Downdetector reports (:mod:`surgescope.simulate.reports`) and ending at its trough (``WAVES``):
  a botnet **HTTP flood** (full handshakes and GET requests) in every wave, a **DNS
  amplification** (reflection off open resolvers, source port 53) in waves 2 and 3, and a
  spoofed **SYN flood** (a fresh random source per packet) in waves 1, 2 and 4;
- the botnet's bots are residential and hosting addresses spread over 30 countries, with
  ``UA_SHARE`` of them on Ukrainian access networks *on purpose*: the point of the demo is to
  show how surgescope weighs a claim like "IP addresses originating in the Ukraine area"
  against the reliability of the sources, not to suggest where the real bots were.

Rates are scaled down (tens of packets per second instead of the millions of a real attack)
so the demo stays a few hundred thousand packets and runs in seconds; ``scale`` multiplies
them. Addresses come from :func:`surgescope.attribution.enrich.sample_addresses`, so they
look up to the countries and network classes they were drawn for.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from surgescope.simulate.packets import Phase, generate

TARGET = "104.244.42.1"
"""The victim's front-end address (in X's own announced range; any public address would do)."""

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
"""Capture start (05:00 EDT)."""

CAPTURE_S = 9.5 * 3600
"""Capture length: 09:00 to 18:30 UTC (05:00 to 14:30 EDT)."""

WAVES: list[tuple[str, str, tuple[str, ...]]] = [
    # (start UTC, end UTC, vectors besides the HTTP flood)
    ("09:24", "10:16", ("syn-flood",)),
    ("13:27", "14:29", ("dns-amplification", "syn-flood")),
    ("16:42", "17:29", ("dns-amplification",)),
    ("17:37", "18:14", ("syn-flood",)),
]

RATES = {"http-flood": 14.0, "syn-flood": 8.0, "dns-amplification": 6.0, "normal": 1.2}
"""Packets per second of each vector at scale 1 (the HTTP flood counts both directions)."""

DNS_RESPONSE_BYTES = 1200
"""DNS answers just under the 1232-byte EDNS buffer most resolvers have advertised since DNS
Flag Day 2020, so they arrive unfragmented (larger ones would be IP fragments)."""

NORMAL_CLIENTS = 800
BOTS = 3000
REFLECTORS = 1200
UA_SHARE = 0.15

BOT_COUNTRIES = (
    "US", "BR", "IN", "VN", "ID", "CN", "RU", "TR", "DE", "FR", "GB", "IT", "ES", "PL", "RO", "MX",
    "AR", "CO", "TH", "PH", "EG", "IR", "PK", "BD", "ZA", "NG", "KR", "JP", "TW", "MY",
)


def _seconds(hhmm: str) -> float:
    h, m = map(int, hhmm.split(":"))
    return (datetime(2025, 3, 10, h, m, tzinfo=UTC) - T0).total_seconds()


def source_pools(rng: np.random.Generator) -> dict[str, list[str]]:
    """Address pools: ``bots`` (botnet), ``reflectors`` (open DNS resolvers), ``clients`` (normal users)."""
    from surgescope.attribution.enrich import sample_addresses

    n_ua = int(BOTS * UA_SHARE)
    n_hosting = int(BOTS * 0.2)
    rest = BOTS - n_ua - n_hosting
    per_country = np.bincount(rng.integers(0, len(BOT_COUNTRIES), size=rest), minlength=len(BOT_COUNTRIES))
    bots = sample_addresses(n_ua, rng, country="UA", as_class="isp")
    for cc, k in zip(BOT_COUNTRIES, per_country, strict=True):
        if k:
            bots += sample_addresses(int(k), rng, country=cc, as_class="isp")
    bots += sample_addresses(n_hosting, rng, as_class="hosting")
    reflectors = sample_addresses(REFLECTORS // 2, rng, as_class="hosting") + sample_addresses(REFLECTORS - REFLECTORS // 2, rng, as_class="isp")
    clients = sample_addresses(NORMAL_CLIENTS, rng, country="US", as_class="isp")
    return {"bots": bots, "reflectors": reflectors, "clients": clients}


def phases(pools: dict[str, list[str]], scale: float = 1.0) -> list[Phase]:
    """The generator phases: normal traffic all day, then the four attack waves."""
    # Small responses keep the capture small (the pcap writer fills payloads with zeros): API
    # calls for normal users, error pages for the flood once the service struggles.
    out = [Phase("normal", start=0, duration=CAPTURE_S, rate=RATES["normal"] * scale, target=TARGET, target_port=443,
                 sources=pools["clients"], options={"response_bytes": 1800})]
    for start, end, extra in WAVES:
        a, b = _seconds(start), _seconds(end)
        out.append(Phase("http-flood", start=a, duration=b - a, rate=RATES["http-flood"] * scale, target=TARGET,
                         target_port=443, sources=pools["bots"], options={"requests_per_session": 6, "think_s": 0.5, "response_bytes": 600}))
        for v in extra:
            if v == "dns-amplification":
                out.append(Phase(v, start=a + 120, duration=b - a - 240, rate=RATES[v] * scale, target=TARGET,
                                 sources=pools["reflectors"], options={"response_bytes": DNS_RESPONSE_BYTES}))
            else:  # spoofed SYN flood: no pool, a fresh random source per packet
                out.append(Phase(v, start=a + 60, duration=b - a - 120, rate=RATES[v] * scale, target=TARGET,
                                 target_port=443))
    return out


def generate_traffic(seed: int = 20250310, scale: float = 1.0) -> pa.Table:
    """The demo's simulated packets (PACKETS schema), sorted by time. Same seed, same table."""
    rng = np.random.default_rng(seed)
    return generate(phases(source_pools(rng), scale), seed=seed, t0=T0)
