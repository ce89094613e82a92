"""The evaluation harness's metric code on hand-made inputs with known answers."""

import math

import numpy as np
import pytest

from voicemon.eval import metrics


def test_auc_perfect_inverted_and_chance():
    assert metrics.roc_auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert metrics.roc_auc([0, 1, 2], [3, 4, 5]) == 0.0
    assert metrics.roc_auc([1, 1], [1, 1]) == 0.5  # all ties count one half


def test_auc_counts_pairs_with_ties_as_half():
    # pairs (p, n): (2,1) win, (2,2) tie, (2,3) loss, (4,1) win, (4,2) win, (4,3) win -> (4 + 0.5) / 6
    assert metrics.roc_auc([2, 4], [1, 2, 3]) == pytest.approx(4.5 / 6)


def test_auc_matches_brute_force_on_random_scores():
    rng = np.random.default_rng(7)
    pos = list(rng.integers(0, 10, 40).astype(float))  # many ties
    neg = list(rng.integers(0, 8, 55).astype(float))
    brute = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert metrics.roc_auc(pos, neg) == pytest.approx(brute)


def test_auc_undefined_without_one_class():
    assert metrics.roc_auc([], [1.0]) is None
    assert metrics.roc_auc([1.0], []) is None


def test_roc_curve_area_equals_auc():
    pos, neg = [0.9, 0.8, 0.4, 0.4], [0.7, 0.4, 0.1]
    pts = metrics.roc_curve(pos, neg)
    assert pts[0] == (0.0, 0.0) and pts[-1] == (1.0, 1.0)
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(pts, pts[1:]))
    assert area == pytest.approx(metrics.roc_auc(pos, neg))


def test_share_at_or_above_heated():
    assert metrics.share_at_or_above(["calm", "tense", "heated", "critical"]) == 0.5
    assert metrics.share_at_or_above(["calm"], "tense") == 0.0
    assert metrics.share_at_or_above([]) is None
    with pytest.raises(ValueError, match="not a meter level"):
        metrics.share_at_or_above(["calm"], "furious")
    with pytest.raises(ValueError, match="not a meter level"):
        metrics.level_rank("furious")


def test_interval_algebra():
    assert metrics.merge_intervals([(5, 6), (0, 2), (1, 3), (3, 4), (7, 7)]) == [(0, 4), (5, 6)]
    assert metrics.total_length([(0, 2), (1, 3)]) == 3
    assert metrics.overlap_length([(0, 10)], [(2, 3), (5, 7), (9, 12)]) == 4


def test_alarm_intervals_hold_each_reading_for_one_period():
    times = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
    levels = ["calm", "heated", "critical", "tense", "heated", "heated"]
    assert metrics.alarm_intervals(times, levels, 0.25) == [(0.5, 1.0), (1.25, 1.75)]


def test_detection_latency_hits_misses_and_grace():
    labelled = [(10.0, 20.0), (40.0, 50.0), (70.0, 80.0)]
    alarms = [(13.0, 25.0), (52.0, 53.0), (65.0, 72.0)]
    # first: 3 s; second: alarm 2 s after its end -> only within grace; third: already on -> 0
    assert metrics.detection_latencies(labelled, alarms) == [3.0, None, 0.0]
    assert metrics.detection_latencies(labelled, alarms, grace_s=5.0) == [3.0, 12.0, 0.0]


def test_time_weighted_precision_recall():
    labelled = [(10.0, 20.0)]
    alarms = [(15.0, 25.0), (40.0, 45.0)]
    p, r = metrics.time_precision_recall(labelled, alarms)
    assert p == pytest.approx(5 / 15) and r == pytest.approx(5 / 10)
    p, r = metrics.time_precision_recall(labelled, alarms, grace_s=5.0)  # release after the end is fine
    assert p == pytest.approx(10 / 15) and r == pytest.approx(5 / 10)
    assert metrics.time_precision_recall([], []) == (None, None)
    assert metrics.time_precision_recall([], [(0.0, 1.0)]) == (0.0, None)


def test_false_alarm_episodes_per_hour():
    labelled = [(100.0, 200.0)]
    alarms = [(10.0, 12.0), (150.0, 210.0), (205.0, 206.0), (300.0, 301.0)]
    # (150, 210) overlaps the escalation; (205, 206) merges into it; two episodes touch nothing
    assert metrics.false_alarm_episodes(labelled, alarms) == 2
    assert metrics.per_hour(2, 1800.0) == 4.0
    assert metrics.per_hour(1, 0.0) is None


def test_logistic_fit_recovers_a_known_model():
    from voicemon.eval.calibrate import logistic_fit

    rng = np.random.default_rng(3)
    X = rng.normal(size=(4000, 2))
    true_w, true_b = np.array([1.5, -0.7]), 0.3
    p = 1 / (1 + np.exp(-(X @ true_w + true_b)))
    y = (rng.random(4000) < p).astype(float)
    w, b = logistic_fit(X, y, l2=0.0)
    # class balancing shifts the intercept by the log prior odds, not the weights
    assert w == pytest.approx(true_w, abs=0.12)
    prior = math.log(y.mean() / (1 - y.mean()))
    assert b == pytest.approx(true_b - prior, abs=0.12)


def test_fit_weights_keeps_each_feature_in_its_escalating_direction():
    from voicemon.escalation.meter import load_meter_params
    from voicemon.eval.calibrate import fit_weights

    rng = np.random.default_rng(11)
    rows = []
    for label, pitch, rate, hnr in (("angry", 3.0, -1.5, -1.5), ("neutral", 0.0, 0.0, 0.0)):
        for _ in range(60):
            rows.append({"label": label, "speaker": "s", "z": {
                "pitch": pitch + rng.normal(), "rate": rate + rng.normal(), "harmonicity": hnr + rng.normal(),
                "loudness": 0.0}})
    w = fit_weights(rows, load_meter_params())
    assert w["pitch"] > 0.3
    assert w["harmonicity"] < -0.1  # lower than normal is escalating: negative weight
    assert "rate" not in w  # slower when angry contradicts its direction: dropped, not reversed
    assert w["loudness"] == load_meter_params().weights["loudness"]  # never fitted
