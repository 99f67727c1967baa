"""The NAB scorer against NAB's own published numbers (results/ in the dataset)."""

import numpy as np
import polars as pl
import pytest

from surgescope.outage import nab


@pytest.fixture(scope="module")
def corpus(datasets):
    root = datasets / "nab"
    files = nab.load_corpus(root)
    return root, files, nab.load_profiles(root)


@pytest.fixture(scope="module")
def numenta(corpus):
    root, files, _ = corpus
    return nab.load_results(root / "results", "numenta", files)


def test_corpus_shape_matches_sources(corpus):
    _, files, _ = corpus
    # SOURCES.md: 58 series, 365,558 rows, 116 windows
    assert len(files) == 58
    assert sum(len(f.ts) for f in files) == 365_558
    assert sum(len(f.windows) for f in files) == 116


def test_scaled_sigmoid_matches_nab_docstring_values():
    got = nab.scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 1.0, 3.0]))
    np.testing.assert_allclose(got, [0.98661, 0.84828, 0.0, -0.98661, -1.0], atol=1e-5)


def test_numenta_published_scores(corpus, numenta):
    _, files, profiles = corpus
    std = nab.corpus_score(files, numenta, profiles["standard"])
    low_fn = nab.corpus_score(files, numenta, profiles["reward_low_FN_rate"])
    low_fp = nab.corpus_score(files, numenta, profiles["reward_low_FP_rate"])
    # results/final_results.json: 70.10105611943965, 74.3202443095115, 63.11684160219828
    assert std["normalised"] == pytest.approx(70.10, abs=0.005)
    assert low_fn["normalised"] == pytest.approx(74.32, abs=0.005)
    assert low_fp["normalised"] == pytest.approx(63.12, abs=0.2)


def test_numenta_low_fp_at_stored_threshold(corpus, numenta):
    _, files, profiles = corpus
    # config/thresholds.json holds the threshold behind the published 63.1168
    got = nab.corpus_score(files, numenta, profiles["reward_low_FP_rate"], threshold=0.5751955032348636)
    assert got["normalised"] == pytest.approx(63.11684160219828, abs=1e-6)


def test_per_file_scores_match_published_score_file(corpus, numenta, datasets):
    _, files, profiles = corpus
    table = pl.read_csv(datasets / "nab/results/numenta/numenta_standard_scores.csv").filter(pl.col("File").is_not_null())
    published = dict(zip(table["File"], table["Score"], strict=True))
    for f, s in zip(files, numenta, strict=True):
        got = nab.file_score(f, s, profiles["standard"], 0.5421876907348634)["raw"]
        assert got == pytest.approx(published[f.name], abs=1e-6), f.name


def test_null_detector_scores_zero(corpus):
    _, files, profiles = corpus
    zeros = [np.zeros(len(f.ts)) for f in files]
    for p in profiles.values():
        assert nab.corpus_score(files, zeros, p)["normalised"] == pytest.approx(0.0, abs=1e-9)


def test_hand_computed_small_file():
    # 20 rows: probation floor(0.15*20) = 3 rows; one window on rows 10..13 (width 4)
    f = nab.NabFile("c/f.csv", np.arange(20, dtype="int64"), np.zeros(20), [(10, 13)])
    p = nab.STANDARD_PROFILE
    s = np.zeros(20)
    s[12] = 1.0  # third row of the window: position -(13-12+1)/4 = -0.5
    s[5] = 0.9   # a false positive before the window costs fpWeight
    s[1] = 1.0   # inside probation: ignored
    tp = (2 / (1 + np.exp(-2.5)) - 1) / (2 / (1 + np.exp(-5)) - 1)
    assert nab.file_score(f, s, p, 0.5)["raw"] == pytest.approx(tp - 0.11)
    # a detection right after the window: position (14-13)/(4-1) costs less than a full FP
    s2 = np.zeros(20)
    s2[14] = 1.0
    after = 2 / (1 + np.exp(5 / 3)) - 1
    assert nab.file_score(f, s2, p, 0.5)["raw"] == pytest.approx(-1.0 + 0.11 * after)
    best = nab.corpus_score([f], [s], p)
    assert best["threshold"] == 1.0 and best["raw"] == pytest.approx(tp)


def test_bench_nab_cli_writes_rescorable_results(datasets, tmp_path, corpus):
    import json

    from typer.testing import CliRunner

    from surgescope.cli import app

    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["bench", "nab", "--data", str(datasets / "nab"), "--write-results", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= {"standard", "reward_low_FP_rate", "reward_low_FN_rate", "categories"}
    assert report["realTweets"] == report["categories"]["realTweets"]
    assert report["realTweets"]["windows"] == 33  # combined_windows.json: 33 windows in realTweets
    written = sorted(out.rglob("*.csv"))
    assert len(written) == 58
    assert written[0].read_text().splitlines()[0] == "timestamp,value,anomaly_score"
    # the written files, read back as any NAB scorer would, give the printed score
    _, files, profiles = corpus
    scores = [pl.read_csv(out / f.name)["anomaly_score"].to_numpy() for f in files]
    rescored = nab.corpus_score(files, scores, profiles["standard"])["normalised"]
    assert rescored == pytest.approx(report["standard"]["normalised"], abs=0.01)
    assert report["standard"]["normalised"] >= 60  # the bar (ahead of Skyline and KNN CAD)
