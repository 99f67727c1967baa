"""Simulated attack traffic for the 10 March 2025 demo: a multi-vector DDoS in four waves.

This is **simulated traffic**, made by the project's own generator
(:mod:`surgescope.simulate.packets`), not a capture of the real attack on X (none is public).
It illustrates how surgescope reads such an attack; nothing measured on it is a finding about
the real one.

The capture is what an edge detector keeps when it triggers (FastNetMon saves a packet sample
of each attack it detects): for each of the four waves of the outage, ``LEAD_S`` seconds of
normal traffic and the first ``ATTACK_S`` seconds of the attack, starting a few minutes before
the wave of reports (``WAVES``, times UTC; US Eastern was UTC-4 that day). A whole wave at
real rates would be hours at thousands of packets per second; the excerpts keep the demo at a
few hundred thousand packets while every vector runs at a rate a real detector would act on.

- every wave: a botnet **HTTP flood** (full TCP handshakes and requests to port 443; each bot
  opens about one connection a second), from a fresh set of ``BOTS_PER_WAVE`` bots (botnets
  rotate their bots);
- waves 1, 2 and 4: a spoofed **SYN flood** (a fresh random source address per packet);
- waves 2 and 3: a **DNS amplification** (answers from port 53 of open resolvers, reflecting
  requests sent with the victim's forged address);
- bots are residential (access ISP) and hosting addresses in 30 countries, with ``UA_SHARE`` of
  them on Ukrainian access networks *on purpose*: the demo shows how surgescope weighs a claim
  like "IP addresses originating in the Ukraine area" against the reliability of the sources,
  not where the real bots were.

Addresses come from :func:`surgescope.attribution.enrich.sample_addresses`, so they look up to
the countries and network classes they were drawn for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from surgescope.simulate.packets import Phase, generate

TARGET = "104.244.42.1"
"""The victim's front-end address (in X's own announced range; any public address would do)."""

WAVES: list[tuple[str, tuple[str, ...]]] = [
    # (attack onset UTC, vectors besides the HTTP flood); reports rose from 09:30, 13:32,
    # 16:00 and 17:33 UTC
    ("09:24:00", ("syn-flood",)),
    ("13:27:00", ("dns-amplification", "syn-flood")),
    ("16:42:00", ("dns-amplification",)),
    ("17:37:00", ("syn-flood",)),
]

LEAD_S = 30.0
"""Normal traffic kept before each onset (the detector's pre-trigger buffer)."""
ATTACK_S = 45.0
"""Seconds of each attack kept after its onset."""

RATES = {"http-flood": 900.0, "syn-flood": 500.0, "dns-amplification": 80.0, "normal": 15.0}
"""Packets per second of each vector at scale 1 (the HTTP flood counts both directions; the DNS
amplification counts answers, before any IP fragmentation)."""

DNS_RESPONSE_BYTES = 1200
"""DNS answers near the 1232-byte EDNS buffer most resolvers have advertised since DNS Flag
Day 2020 (the generator's jitter makes a few of them IP fragments)."""

BOTS_PER_WAVE = 60
REFLECTORS = 400
NORMAL_CLIENTS = 400
UA_SHARE = 0.15

BOT_COUNTRIES = (
    "US", "BR", "IN", "VN", "ID", "CN", "RU", "TR", "DE", "FR", "GB", "IT", "ES", "PL", "RO", "MX",
    "AR", "CO", "TH", "PH", "EG", "IR", "PK", "BD", "ZA", "NG", "KR", "JP", "TW", "MY",
)


def _t0(hhmmss: str) -> datetime:
    h, m, s = map(int, hhmmss.split(":"))
    return datetime(2025, 3, 10, h, m, s, tzinfo=UTC)


T0 = _t0(WAVES[0][0]) - timedelta(seconds=LEAD_S)
"""Capture start (offset 0 of the generator)."""


def source_pools(rng: np.random.Generator) -> dict[str, list[str]]:
    """Address pools: ``bots`` (all waves' bots, in wave order), ``reflectors`` (open DNS
    resolvers) and ``clients`` (normal users)."""
    from surgescope.attribution.enrich import sample_addresses

    n = BOTS_PER_WAVE * len(WAVES)
    n_ua = int(n * UA_SHARE)
    n_hosting = int(n * 0.2)
    rest = n - n_ua - n_hosting
    per_country = np.bincount(rng.integers(0, len(BOT_COUNTRIES), size=rest), minlength=len(BOT_COUNTRIES))
    bots = sample_addresses(n_ua, rng, country="UA", as_class="isp")
    for cc, k in zip(BOT_COUNTRIES, per_country, strict=True):
        if k:
            bots += sample_addresses(int(k), rng, country=cc, as_class="isp")
    bots += sample_addresses(n_hosting, rng, as_class="hosting")
    bots = [bots[i] for i in rng.permutation(len(bots))]  # each wave gets a mix
    reflectors = sample_addresses(REFLECTORS // 2, rng, as_class="hosting") + sample_addresses(REFLECTORS - REFLECTORS // 2, rng, as_class="isp")
    clients = sample_addresses(NORMAL_CLIENTS, rng, country="US", as_class="isp")
    return {"bots": bots, "reflectors": reflectors, "clients": clients}


def phases(pools: dict[str, list[str]], scale: float = 1.0) -> list[Phase]:
    """The generator phases: per wave, normal traffic then the attack's first seconds."""
    out = []
    for i, (onset, extra) in enumerate(WAVES):
        a = (_t0(onset) - T0).total_seconds()
        out.append(Phase("normal", start=a - LEAD_S, duration=LEAD_S + ATTACK_S, rate=RATES["normal"] * scale,
                         target=TARGET, target_port=443, sources=pools["clients"], options={"response_bytes": 1800}))
        bots = pools["bots"][i * BOTS_PER_WAVE:(i + 1) * BOTS_PER_WAVE]
        out.append(Phase("http-flood", start=a, duration=ATTACK_S, rate=RATES["http-flood"] * scale, target=TARGET,
                         target_port=443, sources=bots,
                         options={"requests_per_session": 2, "think_s": 0.2, "response_bytes": 600}))
        for v in extra:
            if v == "dns-amplification":
                out.append(Phase(v, start=a + 5, duration=ATTACK_S - 5, rate=RATES[v] * scale, target=TARGET,
                                 sources=pools["reflectors"], options={"response_bytes": DNS_RESPONSE_BYTES}))
            else:  # spoofed SYN flood: no pool, a fresh random source per packet
                out.append(Phase(v, start=a + 5, duration=ATTACK_S - 5, rate=RATES[v] * scale, target=TARGET,
                                 target_port=443))
    return out


def generate_traffic(seed: int = 20250310, scale: float = 1.0) -> pa.Table:
    """The demo's simulated packets (PACKETS schema), sorted by time. Same seed, same table."""
    rng = np.random.default_rng(seed)
    return generate(phases(source_pools(rng), scale), seed=seed, t0=T0)
