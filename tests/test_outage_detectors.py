"""Detectors: streaming equals batch, and no score depends on the future (real NAB series)."""

import numpy as np
import polars as pl
import pytest

from surgescope.outage import detectors
from surgescope.outage.baseline import SeasonalCount, rate_function, seasonal_count_scores


@pytest.fixture(scope="module")
def machine_temp(datasets):
    # realKnownCause: a machine failure with level shifts and spikes
    df = pl.read_csv(datasets / "nab/data/realKnownCause/machine_temperature_system_failure.csv")
    return df["value"].to_numpy().astype(float)[:6000]


@pytest.fixture(scope="module")
def tweets(datasets):
    df = pl.read_csv(datasets / "nab/data/realTweets/Twitter_volume_AAPL.csv")
    return df["value"].to_numpy().astype(float)[:4000]


@pytest.fixture(scope="module")
def daily(datasets):
    # NAB's daily series whose high phase drops one day (row ~3000): the seasonal record fires
    df = pl.read_csv(datasets / "nab/data/artificialWithAnomaly/art_daily_jumpsdown.csv")[:3050]
    ts = df["timestamp"].str.to_datetime(time_unit="ns").cast(pl.Int64).to_numpy()
    return ts, df["value"].to_numpy().astype(float)


def stream(det, xs, ts=None):
    out = []
    for i, v in enumerate(xs):
        t = None if ts is None else int(ts[i])
        out.append(det.score_one(v, t))
        det.learn_one(v, t)
    return np.array(out)


def test_default_streaming_equals_batch(machine_temp):
    x = machine_temp[:2500]
    batch = detectors.default_scores(None, x)
    live = stream(detectors.Default(), x)
    np.testing.assert_allclose(live, batch, rtol=1e-9, atol=1e-12)
    assert batch.min() >= 0 and batch.max() <= 1
    assert (batch >= detectors.EXTREME_LEVEL.fire).sum() >= 2  # alarms are compared too


def test_default_streaming_equals_batch_with_timestamps(daily):
    ts, x = daily
    batch = detectors.default_scores(ts, x)
    np.testing.assert_allclose(stream(detectors.Default(), x, ts), batch, rtol=1e-9, atol=1e-12)
    seasonal = detectors._seasonal_batch(ts, x, detectors.EXTREME_LEVEL)
    assert seasonal.any()  # the seasonal record path is part of the comparison


def test_robust_z_streaming_equals_batch(machine_temp):
    x = machine_temp[:1500]
    batch = detectors.robust_z_scores(None, x)
    np.testing.assert_allclose(stream(detectors.RobustZ(), x), batch, rtol=1e-9, atol=1e-12)
    assert (batch[100:] > 0.5).any()


def test_seasonal_streaming_equals_batch(tweets):
    # 5-minute counts: a day is 288 samples; two weeks of history use the seasonal median
    x = tweets[:1400].copy()  # almost 5 days: 2 with the seasonal median
    x[500:520] = np.nan  # a gap: neither scored nor learnt
    batch = seasonal_count_scores(x, period=288, window=288)
    det = SeasonalCount(period=288, window=288)
    rows = []
    for v in x:
        rows.append(det.details_one(v))
        det.learn_one(v)
    live = np.array(rows)
    np.testing.assert_array_equal(np.isnan(live[:, 0]), np.isnan(batch.expected))
    np.testing.assert_allclose(live[:, 3], batch.score, rtol=1e-12, atol=1e-12)
    assert np.all(batch.score[500:520] == 0)


@pytest.mark.parametrize("fn", [
    lambda x: detectors.default_scores(None, x),
    lambda x: detectors.default_scores(np.arange(len(x), dtype=np.int64) * 300 * 10**9, x),
    lambda x: seasonal_count_scores(x, period=288, window=288).score,
])
def test_causal_changing_the_future_never_changes_the_past(machine_temp, fn):
    x = machine_temp
    base = fn(x)
    rng = np.random.default_rng(7)
    for t in (1000, 2500, 4000, 5998):
        y = x.copy()
        y[t + 1:] = rng.normal(500, 300, len(y) - t - 1)  # wild values after t
        np.testing.assert_array_equal(fn(y)[: t + 1], base[: t + 1])


def test_poisson_rate_function_hand_values():
    # Poisson Chernoff bound: D = x ln(x/mu) - x + mu; x=20, mu=5 -> 20 ln 4 - 15
    d = rate_function(np.array([20.0]), np.array([5.0]), np.array([1.0]), counts=True)
    assert d[0] == pytest.approx(20 * np.log(4) - 15)
    # negative binomial with var 30 at mu 5: r = 25/25 = 1
    d = rate_function(np.array([20.0]), np.array([5.0]), np.array([np.sqrt(30.0)]), counts=True)
    assert d[0] == pytest.approx(20 * np.log(4) - 21 * np.log(21 / 6))
    # the bound holds against the exact Poisson tail P(X >= 20 | mu 5), summed by hand
    exact = 1 - sum(np.exp(-5) * 5.0**k / np.prod(np.arange(1, k + 1)) for k in range(20))
    assert 0 < exact <= np.exp(-(20 * np.log(4) - 15))


def test_seasonal_flags_tweet_burst_not_daily_rhythm(tweets):
    s = seasonal_count_scores(tweets, period=288, window=288)
    # most samples are ordinary; the largest burst is flagged with a tiny p-value bound
    assert np.mean(s.score > 0.999) < 0.05
    assert s.rate.max() > np.log(1e6)


def test_weekly_profile_streaming_equals_batch(datasets):
    # AAPL mentions summed per hour (55 days): from the third week on, the expected count is the
    # median of the same weekday and hour on the previous weeks
    df = pl.read_csv(datasets / "nab/data/realTweets/Twitter_volume_AAPL.csv")
    hours = df["value"].to_numpy().astype(float)[: (len(df) // 12) * 12].reshape(-1, 12).sum(axis=1)
    batch = seasonal_count_scores(hours, period=24, window=24)
    det = SeasonalCount(period=24, window=24)
    rows = []
    for v in hours:
        rows.append(det.details_one(v))
        det.learn_one(v)
    live = np.array(rows)
    np.testing.assert_allclose(live[:, 3], batch.score, rtol=1e-12, atol=1e-12)
    # hand check of one weekly expectation: 2 weeks of history (t - 504 < 0), so the mean of the
    # same hour 1 and 2 weeks earlier, not the median of the previous 7 days at that hour
    t = 3 * 168 - 5
    assert batch.expected[t] == pytest.approx((hours[t - 168] + hours[t - 336]) / 2)
    assert batch.expected[t] != np.median([hours[t - 24 * k] for k in range(1, 8)])
