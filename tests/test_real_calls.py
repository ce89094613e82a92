"""Real civil customer-service calls (../shared/data/calls): the meter must never cry wolf."""

from __future__ import annotations

import pytest

from conftest import SHARED_DATA

CALLS = sorted((SHARED_DATA / "calls").glob("*.wav")) if (SHARED_DATA / "calls").is_dir() else []


@pytest.mark.skipif(not CALLS, reason="../shared/data/calls is not present (a fresh clone has no ../shared)")
@pytest.mark.parametrize("path", CALLS, ids=[p.name for p in CALLS])
def test_civil_calls_never_reach_heated(analysed, path):
    report = analysed(path)
    levels = {r["role"]: set() for r in report["readings"]}
    for r in report["readings"]:
        levels[r["role"]].add(r["level"])
    assert all(lv <= {"calm", "tense"} for lv in levels.values()), levels
    assert len(report["transcript"]) > 10  # real speech was transcribed
    words = sum(len(s["text"].split()) for s in report["transcript"])
    assert words > 200
