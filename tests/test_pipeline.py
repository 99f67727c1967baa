"""The analysis pipeline: what it keeps of an access log's text while streaming.

Paths and user agents are dropped from the table the analyses hold and kept as keys plus a
bounded tally of the frequent texts (surgescope.tally); the top paths and user agents of each
input and of each HTTP attack come from them. Truth: an independent count of the shared
``apache_logs`` with Python's ``re``, and the generator's own flood definition.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from surgescope.pipeline import analyze
from surgescope.simulate.accesslog import BOT_AGENTS, Flood, generate

LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(?:\S+ )?(\S*)[^"]*" \d{3} \S+ "[^"]*" "(.*)"?$')


@pytest.fixture(scope="module")
def apache(datasets: Path) -> Path:
    return datasets / "logs" / "elastic-apache" / "apache_logs"


def test_top_paths_and_user_agents_of_a_real_log_match_an_independent_count(apache):
    paths, agents = Counter(), Counter()
    for line in apache.read_text(encoding="utf-8", errors="replace").splitlines():
        m = LINE.match(line)
        assert m, line
        paths[re.sub(r"[?#].*$", "", m.group(1))] += 1
        ua = m.group(2).rstrip('"')
        agents[None if ua == "-" else ua] += 1
    summary = analyze([apache]).inputs[0]["summary"]
    got_paths = [(t["path"], t["requests"]) for t in summary["top_paths"]]
    assert got_paths[:5] == paths.most_common(5)
    got_agents = [(t["user_agent"], t["requests"]) for t in summary["top_user_agents"]]
    # "-" (no user agent) is null in the requests table and not a key: it is left out
    expected = [(ua, n) for ua, n in agents.most_common(6) if ua is not None][:5]
    assert got_agents[:5] == expected
    assert abs(summary["top_paths"][0]["share"] - paths.most_common(1)[0][1] / 10_000) < 1e-6


def test_an_http_flood_names_its_paths_and_bot_user_agents(tmp_path):
    log = tmp_path / "flood.log"
    generate(log, 60_000, seed=3, duration_s=1800, clients=2000,
             floods=[Flood(start_s=600, duration_s=120, share=0.3, bots=150)])
    (attack,) = analyze([log]).attacks
    assert attack["vector"] == "http-flood"
    top = {t["path"]: t["share"] for t in attack["top_paths"]}
    # the generator's flood paths, query strings removed, about a third each
    assert set(list(top)[:3]) == {"/", "/search", "/login"}
    assert sum(list(top.values())[:3]) > 0.95
    agents = [t["user_agent"] for t in attack["top_user_agents"][:4]]
    assert set(agents) <= set(BOT_AGENTS) - {"-"}


def test_claims_read_the_input_summaries(tmp_path):
    """The claims run last and read the per-input summaries (made on a thread beside the other
    analyses): a claimed attack window inside a calm log's span is contradicted, not
    unverifiable, and assessing the finished report again gives the same verdict."""
    from surgescope.attribution.claims import assess

    log = generate(tmp_path / "calm.log", 3_000, seed=3, clients=200, duration_s=3600.0,
                   start="2025-03-10T10:00:00Z").path
    claims = tmp_path / "claims.yaml"
    claims.write_text('- {who: a, when: 2025-03-10, where: x, text: "attack 10:10-10:20", what: {window: '
                      '{start: "2025-03-10T10:10:00Z", end: "2025-03-10T10:20:00Z"}}}\n')
    incident = analyze([log], claims=claims)
    assert incident.attacks == []
    assert incident.claims[0]["assessment"] == "contradicted"
    assert assess(claims, incident.to_dict())[0]["assessment"] == "contradicted"
