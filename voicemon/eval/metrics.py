"""Detection metrics for the escalation meter: pure functions of scores, levels and intervals.

Two families:

* clip metrics (one score per labelled clip): ROC AUC by the Mann-Whitney statistic with ties
  counted as one half, the ROC curve, and the share of clips at or above a level;
* call metrics (escalation intervals against the meter's alarm time line): detection latency,
  time-weighted precision and recall, and false-alarm episodes per hour.

No I/O, no numpy state, no pipeline imports: every function can be checked by hand.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from voicemon.events import level_rank

Interval = tuple[float, float]


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mean_rank = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = mean_rank
        i = j + 1
    return ranks


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Area under the ROC curve: P(positive scores above negative), ties counted one half.

    Computed from the Mann-Whitney U statistic on mid-ranks, O(n log n).

    Args:
        positives: scores of the clips that should alarm (e.g. angry).
        negatives: scores of the clips that should not (e.g. neutral).

    Returns:
        The AUC in [0, 1], or None when either group is empty.
    """
    n_pos, n_neg = len(positives), len(negatives)
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _ranks([*map(float, positives), *map(float, negatives)])
    u = sum(ranks[:n_pos]) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def roc_curve(positives: Sequence[float], negatives: Sequence[float]) -> list[tuple[float, float]]:
    """ROC points ``(false-positive rate, true-positive rate)`` from (0, 0) to (1, 1).

    One point per distinct score, thresholds from high to low (a clip alarms when its score
    is >= the threshold), so tied scores move the curve diagonally.

    Args:
        positives: scores of the positive clips.
        negatives: scores of the negative clips.

    Returns:
        The curve's vertices; empty when either group is empty.
    """
    if not positives or not negatives:
        return []
    points = [(0.0, 0.0)]
    for thr in sorted(set(map(float, positives)) | set(map(float, negatives)), reverse=True):
        tpr = sum(p >= thr for p in positives) / len(positives)
        fpr = sum(n >= thr for n in negatives) / len(negatives)
        points.append((fpr, tpr))
    return points


def share_at_or_above(levels: Iterable[str], level: str = "heated") -> float | None:
    """Fraction of clips whose (peak) level is ``level`` or higher; None for no clips."""
    levels = list(levels)
    if not levels:
        return None
    floor = level_rank(level)
    return sum(level_rank(lv) >= floor for lv in levels) / len(levels)


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted union of intervals; touching or overlapping ones are joined, empty ones dropped."""
    out: list[list[float]] = []
    for start, end in sorted((float(s), float(e)) for s, e in intervals if e > s):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def total_length(intervals: Iterable[Interval]) -> float:
    """Summed length of the union of the intervals."""
    return sum(e - s for s, e in merge_intervals(intervals))


def overlap_length(a: Iterable[Interval], b: Iterable[Interval]) -> float:
    """Length of the intersection of two interval unions."""
    a, b = merge_intervals(a), merge_intervals(b)
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0.0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def alarm_intervals(times_s: Sequence[float], levels: Sequence[str], period_s: float,
                    level: str = "heated") -> list[Interval]:
    """Time spans during which the meter was at ``level`` or above.

    A reading at time ``t`` stands for ``[t, t + period_s)``: the meter holds its level until
    the next reading.

    Args:
        times_s: reading times in seconds, increasing.
        levels: the level of each reading.
        period_s: time between readings.
        level: the lowest level that counts as an alarm.

    Returns:
        Merged alarm intervals.
    """
    floor = level_rank(level)
    return merge_intervals((t, t + period_s) for t, lv in zip(times_s, levels) if level_rank(lv) >= floor)


def _grown(intervals: Iterable[Interval], grace_s: float) -> list[Interval]:
    return merge_intervals((s, e + grace_s) for s, e in intervals)


def detection_latencies(labelled: Sequence[Interval], alarms: Sequence[Interval],
                        grace_s: float = 0.0) -> list[float | None]:
    """Per labelled escalation, seconds from its start to the first alarm time inside it.

    The search window is ``[start, end + grace_s]`` (the meter needs time to react); an alarm
    already running at ``start`` gives latency 0.

    Args:
        labelled: escalation intervals.
        alarms: alarm intervals (see :func:`alarm_intervals`).
        grace_s: how long after an interval's end a first alarm still counts as detecting it.

    Returns:
        One latency per labelled interval, None where it was missed.
    """
    out: list[float | None] = []
    for start, end in labelled:
        hits = [max(start, a0) for a0, a1 in alarms if a1 > start and a0 <= end + grace_s]
        out.append(min(hits) - start if hits else None)
    return out


def time_precision_recall(labelled: Sequence[Interval], alarms: Sequence[Interval],
                          grace_s: float = 0.0) -> tuple[float | None, float | None]:
    """Time-weighted precision and recall of alarm time against labelled escalation time.

    Precision is the share of alarm time inside an escalation (each interval extended by
    ``grace_s`` at its end, where the meter's release legitimately lags); recall is the share
    of labelled time (not extended) covered by an alarm.

    Returns:
        ``(precision, recall)``; precision is None without alarm time, recall None without
        labelled time.
    """
    alarm_s = total_length(alarms)
    label_s = total_length(labelled)
    precision = overlap_length(alarms, _grown(labelled, grace_s)) / alarm_s if alarm_s > 0 else None
    recall = overlap_length(alarms, labelled) / label_s if label_s > 0 else None
    return precision, recall


def false_alarm_episodes(labelled: Sequence[Interval], alarms: Sequence[Interval],
                         grace_s: float = 0.0) -> int:
    """Alarm episodes that touch no labelled escalation (extended by ``grace_s``)."""
    allowed = _grown(labelled, grace_s)
    return sum(1 for a in merge_intervals(alarms) if overlap_length([a], allowed) == 0.0)


def per_hour(count: float, seconds: float) -> float | None:
    """A count as a rate per hour of ``seconds``; None for no time."""
    return count * 3600.0 / seconds if seconds > 0 else None
