"""The batch summary rows, summary.csv merging and the batch index page (issue 14 H7, L6): pure."""

from __future__ import annotations

import copy
import csv
import json
import re

from test_report_html import sample_report, small_report
from voicemon.report.batch_index import render_index, write_index
from voicemon.report.summary import (
    SUMMARY_COLUMNS, error_row, merge_rows, rank_rows, read_summary, summary_row, worst_first_lines, write_summary,
)


def _calm_call() -> dict:
    r = copy.deepcopy(small_report())
    r["stats"]["per_role"]["customer"].update(peak_score=22.0, peak_level="calm",
                                              time_in_level_s={"calm": 10.0})
    r["stats"]["per_role"]["agent"].update(peak_score=12.0)
    r["prompts"], r["cues"], r["errors"] = [], [], []
    r["transcript"] = [{"role": "customer", "start": 1.0, "end": 2.0, "text": "Thanks, that is all.", "utterance_id": "c-0"}]
    return r


def _agent_heated_call() -> dict:
    """The caller stays tense; the agent's own meter climbs higher (the real-call case of issue 14)."""
    r = _calm_call()
    r["stats"]["per_role"]["customer"].update(peak_score=41.0, peak_level="tense")
    r["stats"]["per_role"]["agent"].update(peak_score=63.0, peak_level="heated", time_in_level_s={"calm": 6, "heated": 4})
    r["transcript"] = [{"role": "agent", "start": 3.0, "end": 5.0, "text": "There is nothing I can do about the refund",
                        "utterance_id": "a-0"}]
    r["events"] = [{"type": "call_started", "t": 0.0, "roles": ["agent", "customer"], "source": "x",
                    "agent_id": "A17", "agent_name": "Sam <Ops>", "queue": "billing"}]
    return r


def _rows() -> list[dict]:
    return [summary_row(_calm_call(), "calls/calm.wav", {"html": "out/calm.html"}),
            summary_row(sample_report(), "calls/2026/bad.wav", {"html": "out/bad.html", "json": "out/bad.json"}),
            summary_row(_agent_heated_call(), "calls/agent.wav", {"html": "out/agent.html"}),
            error_row("calls/broken.wav", "not a readable audio file")]


def test_summary_row_has_review_flags_counts_and_metadata():
    calm, bad, agent, broken = _rows()
    assert set(calm) == set(SUMMARY_COLUMNS)
    assert calm["needs_review"] == "no" and calm["review_reasons"] == ""
    assert bad["needs_review"] == "yes" and bad["review_reasons"].startswith("caller reached critical")
    assert bad["caller_heated_or_above_s"] == 34.0 and bad["agent_heated_or_above_s"] == 0.0
    assert bad["prompt_counts"] == "acknowledge:1 no_hold:1 slow_down:1"
    assert bad["cues_escalating"] == 7 and bad["cues_deescalating"] == 4
    assert bad["cue_counts"].startswith("gratitude:2 ")
    assert agent["agent_above_caller"] == "yes" and agent["agent_heated_or_above_s"] == 4.0
    assert agent["review_reasons"] == "agent escalated: reached heated, above the caller (63 vs 41)"
    assert (agent["agent_id"], agent["agent_name"], agent["queue"]) == ("A17", "Sam <Ops>", "billing")
    assert broken["status"] == "error" and broken["needs_review"] == "yes"
    assert "not a readable audio file" in broken["review_reasons"]


def test_ranking_and_the_worst_first_terminal_summary():
    ranked = [r["file"] for r in rank_rows(_rows())]
    assert ranked == ["calls/2026/bad.wav", "calls/agent.wav", "calls/calm.wav", "calls/broken.wav"]
    lines = worst_first_lines(_rows())
    assert lines[0] == "4 calls, 3 need review (1 critical, 0 heated, 2 agent escalated, 1 failed)"
    assert [next(f for f in ranked if f in line) for line in lines[1:]] == ranked
    assert "agent heated!" in lines[2] and "above the caller" in lines[2]
    assert worst_first_lines(_rows(), limit=2)[-1] == "  … and 2 more (see the batch index)"


def test_summary_csv_merges_runs_instead_of_overwriting(tmp_path):
    path = tmp_path / "summary.csv"
    calm, bad, agent, broken = _rows()
    write_summary([calm, bad], path)
    # Second run: bad.wav again (now fixed) and a new file; calm.wav was not re-run and stays.
    bad2 = dict(bad, caller_peak_score=12.0, caller_peak_level="calm", needs_review="no")
    written = write_summary([bad2, agent], path)
    rows = read_summary(path)
    assert [r["file"] for r in rows] == ["calls/calm.wav", "calls/2026/bad.wav", "calls/agent.wav"]
    assert rows[1]["caller_peak_level"] == "calm" and len(written) == 3
    assert next(csv.reader(path.open())) == list(SUMMARY_COLUMNS)
    # A new input whose reports overwrite an old row's files replaces that row too.
    other = dict(calm, file="elsewhere/calm.wav")
    assert [r["file"] for r in merge_rows(rows, [other])] == ["calls/2026/bad.wav", "calls/agent.wav", "elsewhere/calm.wav"]
    # merge=False: this run only.
    write_summary([broken], path, merge=False)
    assert [r["file"] for r in read_summary(path)] == ["calls/broken.wav"]


def test_index_page_ranks_links_and_is_self_contained(tmp_path):
    rows = _rows()
    for row, report in zip(rows, (_calm_call(), sample_report(), _agent_heated_call(), None)):
        if report:
            row["transcript"] = report["transcript"]
    page = render_index(rows, title="Batch <1>", link_base=tmp_path / "out")
    assert page.startswith("<!DOCTYPE html>") and "Batch &lt;1&gt;" in page
    order = re.findall(r'<tr class="call[^"]*" data-id="[^"]+" data-file="([^"]+)"', page)
    assert order == ["calls/2026/bad.wav", "calls/agent.wav", "calls/calm.wav", "calls/broken.wav"]
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "Sam &lt;Ops&gt;" in page and "<Ops>" not in page
    data = json.loads(re.search(r'<script type="application/json" id="vm-data">(.*?)</script>', page, re.S).group(1))
    assert [c["file"] for c in data] == order
    assert "nothing i can do about the refund" in data[1]["text"]
    assert data[0]["link"] == "../out/bad.html" or data[0]["link"].endswith("out/bad.html")
    assert data[1]["agent_escalated"] and data[1]["agent_above"] and data[3]["has_errors"]
    # Segment numbers are the report page's seg-<n> anchors (sorted by start).
    assert data[0]["segs"][0][:2] == [0, "agent"]


def test_write_index_reads_transcripts_from_the_json_reports(tmp_path):
    report = sample_report()
    (tmp_path / "bad.json").write_text(json.dumps(report))
    row = summary_row(report, "calls/bad.wav", {"json": str(tmp_path / "bad.json"), "html": str(tmp_path / "bad.html")})
    path = write_index([row], tmp_path / "index.html")
    page = path.read_text()
    assert "i want a manager right now" in page.lower() and 'href="bad.html"' in page
    assert not list(tmp_path.glob("*.tmp"))


def test_batch_outputs_cover_every_run_into_the_folder(tmp_path):
    from voicemon.report.batch_index import write_batch_outputs

    calm, bad, agent, broken = _rows()
    write_batch_outputs([calm, broken], tmp_path)
    result = write_batch_outputs([agent], tmp_path, title="QA")
    assert [r["file"] for r in result["rows"]] == ["calls/calm.wav", "calls/broken.wav", "calls/agent.wav"]
    assert [r["file"] for r in read_summary(tmp_path / "summary.csv")] == [r["file"] for r in result["rows"]]
    page = (tmp_path / "index.html").read_text()
    assert re.findall(r'data-file="([^"]+)"', page) == ["calls/agent.wav", "calls/calm.wav", "calls/broken.wav"]
    # index only (no csv asked): the page still lists the folder's calls, the CSV is untouched
    before = (tmp_path / "summary.csv").read_text()
    write_batch_outputs([bad], tmp_path, csv=False)
    assert (tmp_path / "summary.csv").read_text() == before
    assert "calls/2026/bad.wav" in (tmp_path / "index.html").read_text()
