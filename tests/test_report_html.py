"""Tests for the self-contained HTML call report (voicemon.report.html)."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

from voicemon.report.html import render_html

LEVELS = {"tense": 35, "heated": 60, "critical": 80}


def _level(score: float) -> str:
    return ("critical" if score >= 80 else "heated" if score >= 60
            else "tense" if score >= 35 else "calm")


def small_report() -> dict:
    """A tiny hand-made two-party report."""
    readings = []
    for i in range(40):
        t = i * 0.25
        c = 20 + 70 * math.sin(math.pi * t / 10)
        readings.append({"t": t, "role": "customer", "score": c, "level": _level(c),
                         "contributions": {"loudness": 2.0, "text:threat_cancel": 1.5, "bias": -3.0}})
        readings.append({"t": t, "role": "agent", "score": 15.0, "level": "calm",
                         "contributions": {"loudness": 0.5, "bias": -3.0}})
    return {
        "report_version": 1, "voicemon_version": "0.1.0", "generated_at": "2026-11-22T13:00:00Z",
        "source": "calls/x.wav", "duration_s": 10.0, "roles": ["agent", "customer"],
        "model": {"name": "tiny.en (bundled)", "path": "/models/tiny"},
        "config": {"meter": {"readings_hz": 4}, "url_note": "see https://example.com"},
        "levels": LEVELS,
        "transcript": [
            {"role": "customer", "start": 1.0, "end": 4.0, "utterance_id": "customer-0",
             "text": "I will Cancel my account <script>alert(1)</script> today"},
            {"role": "agent", "start": 4.5, "end": 7.0, "utterance_id": "agent-0",
             "text": "I understand, let me fix that & check."},
        ],
        "cues": [
            {"type": "cue", "t": 1.5, "role": "customer", "kind": "threat_cancel", "weight": 0.8,
             "evidence": "cancel my account", "source": "text"},
            {"type": "cue", "t": 4.6, "role": "agent", "kind": "empathy", "weight": -0.6,
             "evidence": "i understand", "source": "text"},
            {"type": "cue", "t": 3.0, "role": "customer", "kind": "overtalk", "weight": 0.3,
             "evidence": "customer talked over agent for 1.2 s", "source": "conversation"},
        ],
        "prompts": [
            {"type": "prompt", "t": 5.0, "id": "p1", "kind": "no_hold", "text": "Don't put them on hold",
             "technique": "Stay with an upset caller", "priority": 2,
             "reason": "agent said 'put you on hold'", "expires_at": 9.0,
             "outcome": {"score_at": 71.0, "score_after": 40.2, "after_s": 5.0, "fell": True}},
        ],
        "readings": readings,
        "stats": {
            "per_role": {
                "customer": {"peak_score": 90.0, "peak_t": 5.0, "peak_level": "critical",
                             "time_in_level_s": {"calm": 2.0, "tense": 2.0, "heated": 3.0, "critical": 3.0},
                             "talk_time_s": 3.0, "mean_rate_syl_s": 4.1},
                "agent": {"peak_score": 15.0, "peak_t": 0.0, "peak_level": "calm",
                          "time_in_level_s": {"calm": 10.0}, "talk_time_s": 2.5},
            },
            "talk_ratio_agent": 0.45, "overtalk_count": 1, "overtalk_s": 1.2, "longest_silence_s": 0.5,
            "prompts_fired": 1, "prompts_followed_by_fall": 1,
        },
        "acknowledgements": [{"t": 5.5, "prompt_id": "p1", "action": "acknowledged"}],
        "errors": [{"t": 0.0, "stage": "asr", "message": "slow <start>", "fatal": False}],
    }


def sample_report(duration: float = 120.0) -> dict:
    """A realistic ~2-minute call: the customer's meter rises to critical and falls again."""
    def cust(t: float) -> float:
        return 14 + 70 * math.exp(-((t - 55) / 16) ** 2) + 4 * math.sin(t / 2.3)

    def agent(t: float) -> float:
        return 12 + 22 * math.exp(-((t - 50) / 12) ** 2) + 3 * math.sin(t / 3.1)

    readings = []
    for i in range(int(duration * 4)):
        t = i / 4
        c, a = cust(t), agent(t)
        readings.append({"t": t, "role": "customer", "score": round(c, 1), "level": _level(c), "contributions": {
            "loudness": round(c / 25, 2), "pitch": round(c / 40, 2), "rate": round(c / 90, 2),
            "text:anger": 0.9 if 40 < t < 70 else 0.0, "text:threat_cancel": 1.2 if 40 < t < 75 else 0.0,
            "agent:empathy": -0.7 if t > 60 else 0.0, "bias": -3.0}})
        readings.append({"t": t, "role": "agent", "score": round(a, 1), "level": _level(a), "contributions": {
            "loudness": round(a / 30, 2), "pitch": 0.3, "text:hold": 0.8 if 48 < t < 56 else 0.0, "bias": -3.0}})
    lines = [
        ("agent", 1.0, "Thanks for calling Northwind support, this is Sam, how can I help?"),
        ("customer", 5.0, "Hi, I was charged twice for my subscription this month."),
        ("agent", 10.0, "Sorry to hear that. Can I have your account number please?"),
        ("customer", 15.0, "It's 4471 2290. I already called about this last week."),
        ("agent", 21.0, "Let me look into it, one moment."),
        ("customer", 28.0, "Nobody ever fixes anything. This is the third time I'm calling!"),
        ("agent", 34.0, "I see the two charges here, on the 3rd and the 4th."),
        ("customer", 40.0, "This is ridiculous. If it isn't fixed today I will cancel my account."),
        ("agent", 47.0, "I'm going to put you on hold while I check with billing."),
        ("customer", 52.0, "No! Don't you dare put me on hold again, I want a manager right now."),
        ("agent", 60.0, "I understand how frustrating this is. I'm staying right here with you."),
        ("customer", 66.0, "Fine. So what are you going to do about it?"),
        ("agent", 71.0, "I've refunded the duplicate charge, you'll see it in 3 to 5 days."),
        ("customer", 80.0, "OK. Thank you, I appreciate that."),
        ("agent", 86.0, "You're welcome. I also added a note so this won't happen again."),
        ("customer", 95.0, "Great, thanks for sorting it out."),
        ("agent", 102.0, "Is there anything else I can help you with today?"),
        ("customer", 108.0, "No, that's all. Bye."),
    ]
    transcript = [{"role": r, "start": s, "end": s + min(5.5, 0.32 * len(x.split()) + 0.8), "text": x,
                   "utterance_id": f"{r}-{i}"} for i, (r, s, x) in enumerate(lines)]
    cue = lambda t, role, kind, w, ev, src="text": {  # noqa: E731
        "type": "cue", "t": t, "role": role, "kind": kind, "weight": w, "evidence": ev, "source": src}
    cues = [cue(30.5, "customer", "frustration", 0.5, "nobody ever fixes anything"),
            cue(31.9, "customer", "repeat_contact", 0.4, "third time i'm calling"),
            cue(41.0, "customer", "anger", 0.6, "this is ridiculous"),
            cue(43.0, "customer", "threat_cancel", 0.8, "cancel my account"),
            cue(48.5, "agent", "hold", 0.5, "put you on hold"),
            cue(53.0, "customer", "escalate_manager", 0.7, "i want a manager"),
            cue(52.5, "customer", "overtalk", 0.3, "customer talked over agent for 1.2 s", "conversation"),
            cue(60.2, "agent", "empathy", -0.6, "i understand"),
            cue(61.5, "agent", "ownership", -0.5, "i'm staying right here with you"),
            cue(80.8, "customer", "gratitude", -0.6, "thank you"),
            cue(95.3, "customer", "gratitude", -0.5, "thanks")]
    prompts = [
        {"type": "prompt", "t": 42.0, "id": "p1", "kind": "acknowledge", "text": "Acknowledge the repeat contact",
         "technique": "Name the emotion", "priority": 1, "reason": "customer said “third time i'm calling”",
         "expires_at": 52.0, "outcome": {"score_at": 58.0, "score_after": 80.1, "after_s": 30.0, "fell": False}},
        {"type": "prompt", "t": 49.0, "id": "p2", "kind": "no_hold", "text": "Don't put them on hold",
         "technique": "Stay with an upset caller", "priority": 2,
         "reason": "agent said 'put you on hold' while customer is heated", "expires_at": 57.0,
         "outcome": {"score_at": 77.0, "score_after": 43.0, "after_s": 30.0, "fell": True}},
        {"type": "prompt", "t": 56.0, "id": "p3", "kind": "slow_down", "text": "Slow down and lower your voice",
         "technique": "Pace and lead", "priority": 1, "reason": "customer meter critical",
         "expires_at": 64.0, "outcome": {"score_at": 83.5, "score_after": 28.0, "after_s": 30.0, "fell": True}},
    ]
    report = small_report()
    report.update({
        "source": "calls/2026-11-20/northwind-billing-0042.wav", "duration_s": duration,
        "config": {"meter": {"readings_hz": 4, "thresholds": LEVELS, "smoothing_s": 2.0},
                   "asr": {"model": "tiny.en", "beam_size": 1}, "coach": {"cooldown_s": 8}},
        "transcript": transcript, "cues": cues, "prompts": prompts, "readings": readings,
        "acknowledgements": [{"t": 50.0, "prompt_id": "p2", "action": "acknowledged"}],
    })
    report["stats"] = {
        "per_role": {
            "customer": {"peak_score": 84.2, "peak_t": 55.0, "peak_level": "critical",
                         "time_in_level_s": {"calm": 62.0, "tense": 24.0, "heated": 22.0, "critical": 12.0},
                         "talk_time_s": 48.0, "mean_rate_syl_s": 4.4},
            "agent": {"peak_score": 36.1, "peak_t": 50.0, "peak_level": "tense",
                      "time_in_level_s": {"calm": 108.0, "tense": 12.0}, "talk_time_s": 44.0, "mean_rate_syl_s": 3.9},
        },
        "talk_ratio_agent": 0.48, "overtalk_count": 3, "overtalk_s": 3.4, "longest_silence_s": 4.2,
        "prompts_fired": 3, "prompts_followed_by_fall": 2,
    }
    return report


class _Checker(HTMLParser):
    """Collects tags and checks that the document parses."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def _parse(page: str) -> _Checker:
    p = _Checker()
    p.feed(page)
    p.close()
    return p


def test_small_report_structure() -> None:
    page = render_html(small_report())
    assert page.startswith("<!DOCTYPE html>")
    tags = _parse(page).tags
    assert sum(1 for t, _ in tags if t == "svg") == 1
    lines = [a for t, a in tags if t == "polyline" and "role-line" in a.get("class", "")]
    assert sorted(a["data-role"] for a in lines) == ["agent", "customer"]
    assert 'class="prompt-marker"' in page and "Don&#x27;t put them on hold" in page
    for band in ("calm", "tense", "heated", "critical"):
        assert f"band band-{band}" in page
    assert "calls/x.wav" in page and "tiny.en (bundled)" in page and "00:10" in page


def test_user_text_is_escaped() -> None:
    page = render_html(small_report())
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "fix that &amp; check" in page
    assert "slow &lt;start&gt;" in page
    assert page.count("<script>") == 1  # only the page's own script


def test_cue_phrases_are_highlighted() -> None:
    page = render_html(small_report())
    assert re.search(r'<mark class="up" title="threat_cancel[^"]*">Cancel my account</mark>', page)
    assert re.search(r'<mark class="down" title="empathy[^"]*">I understand</mark>', page)
    assert 'class="chip up"' in page  # the overtalk cue is not a phrase: shown as a chip


def test_no_external_resources() -> None:
    page = render_html(small_report())
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "@import" not in page and "url(" not in page
    assert "https://example.com" in page  # config text is shown, but never loaded


def test_band_edges_follow_report_levels() -> None:
    report = small_report()
    report["levels"] = {"tense": 20, "heated": 50, "critical": 90}
    page = render_html(report)
    assert "tense: 20–50" in page and "critical: 90–100" in page


def test_empty_and_mono_reports_render() -> None:
    for report in ({}, {"roles": ["mixed"], "readings": [], "transcript": [], "stats": {}},
                   {"roles": ["mixed"], "duration_s": 5.0, "prompts": [{"t": 1.0, "text": "x", "outcome": None}],
                    "readings": [{"t": 1.0, "role": "mixed", "score": 50, "contributions": {}}],
                    "transcript": [{"role": "mixed", "start": 0.5, "end": 2.0, "text": "hello"}]}):
        page = render_html(report)
        assert "<svg" in page and page.rstrip().endswith("</html>")
        _parse(page)
    mono = render_html({"roles": ["mixed"], "readings": [{"t": 1.0, "role": "mixed", "score": 50}]})
    assert 'data-role="mixed"' in mono and "The call peaked at" in mono


def test_sample_report_renders(tmp_path) -> None:
    page = render_html(sample_report())
    out = tmp_path / "sample_report.html"
    out.write_text(page, encoding="utf-8")
    tags = _parse(page).tags
    assert sum(1 for t, a in tags if t == "g" and a.get("class") == "prompt-marker") == 3
    assert sum(1 for t, a in tags if t == "div" and "seg" in a.get("class", "").split()) == 18
    assert "Contributions at peak" in page and "Effective configuration" in page
