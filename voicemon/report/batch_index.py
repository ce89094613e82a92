"""The batch triage page: ``index.html`` over the calls of a batch, worst first.

One self-contained page (inline CSS and JavaScript, no network): every call ranked by the
caller's peak and time at heated or above, filters (caller level, prompts fired, agent
escalated, errors, needs review), a search over the calls' transcripts with links to the matching
line of each report, the batch's totals, and each call's report linked.

Build it from summary rows — the dicts of :mod:`voicemon.report.summary` (one per call, the
columns of ``summary.csv``; values may be numbers or the strings read back from a CSV)::

    from voicemon.report.batch_index import write_index
    write_index(rows, Path("out/index.html"), title="Batch 2026-11-27")

Keys used from each row: ``file``, ``status``, ``error``, ``caller_peak_score``,
``caller_peak_level``, ``caller_heated_or_above_s``, ``agent_peak_score``, ``agent_peak_level``,
``agent_heated_or_above_s``, ``prompts_fired``, ``prompts_followed_by_fall``, ``prompt_counts``,
``cues_escalating``, ``cue_counts``, ``error_count``, ``duration_s``, ``agent_name``,
``agent_id``, ``queue``, ``report_html`` (linked, relative to the page) and ``report_json``. Any
may be missing. A row may carry its transcript for the search under ``transcript`` (the
report's list of segments); :func:`write_index` otherwise reads it from the row's
``report_json`` file when that exists. Needs-review and agent flags are recomputed from the row
(:func:`voicemon.report.summary.review`), so rows from any source rank the same way.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from html import escape
from pathlib import Path, PurePath
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from voicemon.report.summary import (
    LEVELS, _num, agent_above_caller, agent_escalated, level_rank, merge_rows, rank_rows, read_summary, review,
    write_summary,
)

MAX_TRANSCRIPT_CHARS = 20_000
"""Per call, at most this much transcript text goes into the page for the search."""

_CSS = """
:root{color-scheme:light dark;--ink:#1f2933;--muted:#5f6b7a;--line:#e3e7ed;--bg:#f4f6f9;--card:#fff;--accent:#5f3dc4;
--link:#364fc7;--calm:#2f9e44;--tense:#b08800;--heated:#e8590c;--critical:#e03131;--badge:#f1f3f5;--hl:#fff3bf;
--calm-bg:#d3f9d8;--calm-fg:#24692f;--tense-bg:#fff3bf;--tense-fg:#7a5600;--heated-bg:#ffe8cc;--heated-fg:#9a3f00;
--critical-bg:#ffe3e3;--critical-fg:#b02525;--warn-bg:#fff5f5;--warn-fg:#a61e1e}
@media (prefers-color-scheme: dark){:root{--ink:#e6e9ee;--muted:#a3adba;--line:#333a44;--bg:#14171c;--card:#1d2128;
--accent:#b197fc;--link:#91a7ff;--badge:#2a2f37;--hl:#5c4b00;--calm-bg:#1f3a25;--calm-fg:#8ce99a;--tense-bg:#3d3413;
--tense-fg:#ffe066;--heated-bg:#45280f;--heated-fg:#ffc078;--critical-bg:#4a1d1d;--critical-fg:#ffa8a8;
--warn-bg:#3b1d1d;--warn-fg:#ffc9c9}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:20px 16px 40px}
h1{font-size:21px;margin:0 0 4px}.muted{color:var(--muted)}.small{font-size:12.5px}
a{color:var(--link)}
.totals{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:14px 0}
.tot{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 12px}
.tot .k{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}.tot .v{font-size:22px;font-weight:650}
.lvlbar{display:flex;height:8px;border-radius:4px;overflow:hidden;background:var(--line);margin-top:6px}
.lvlbar span{display:block}.b-calm{background:var(--calm)}.b-tense{background:var(--tense)}.b-heated{background:var(--heated)}.b-critical{background:var(--critical)}
.controls{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;background:var(--card);border:1px solid var(--line);
border-radius:10px;padding:10px 12px;margin:0 0 12px;position:sticky;top:0;z-index:2}
.controls label{display:inline-flex;gap:6px;align-items:center;font-size:13px}
.controls select,.controls input[type=search]{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:4px 6px}
.controls input[type=search]{min-width:220px;flex:1}
#vm-count{margin-left:auto;font-size:12.5px;color:var(--muted)}
.tablewrap{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow-x:auto}
table{width:100%;border-collapse:collapse}
th{text-align:left;font-size:11.5px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em;white-space:nowrap}
th button{all:unset;cursor:pointer}th button:focus-visible{outline:2px solid var(--link)}
th[aria-sort=descending] button::after{content:" ▼"}th[aria-sort=ascending] button::after{content:" ▲"}
th,td{padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
tr.call:last-child td{border-bottom:0}
tr.call.review td:first-child{box-shadow:inset 4px 0 var(--critical)}
.rank{font-variant-numeric:tabular-nums;color:var(--muted)}
.name{font-weight:650;word-break:break-word}.dir{font-size:12px;color:var(--muted);word-break:break-all}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap}
.lvl-calm{background:var(--calm-bg);color:var(--calm-fg)}.lvl-tense{background:var(--tense-bg);color:var(--tense-fg)}
.lvl-heated{background:var(--heated-bg);color:var(--heated-fg)}.lvl-critical{background:var(--critical-bg);color:var(--critical-fg)}
.lvl-error{background:var(--warn-bg);color:var(--warn-fg)}
.score{font-size:18px;font-weight:650;font-variant-numeric:tabular-nums;margin-right:4px}
.badge{display:inline-block;margin:4px 4px 0 0;padding:1px 7px;border-radius:6px;font-size:11.5px;background:var(--badge)}
.badge.warn{background:var(--warn-bg);color:var(--warn-fg)}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}.num .small,.det{white-space:normal;max-width:220px}
td.call-cell{min-width:260px;width:40%}
@media (max-width:720px){td.call-cell{min-width:150px;width:auto}}
.snip{margin-top:6px;font-size:12.5px}.snip a{display:block;text-decoration:none;color:inherit;padding:2px 0}
.snip a:hover .t,.snip a:focus .t{text-decoration:underline}.snip .t{color:var(--link);font-family:ui-monospace,Menlo,Consolas,monospace}
mark{background:var(--hl);color:inherit;border-radius:2px}
.empty{padding:18px;text-align:center;color:var(--muted)}
@media (max-width:720px){.hide-narrow{display:none}.controls input[type=search]{min-width:0;width:100%}
#vm-count{margin-left:0}th,td{padding:7px 6px}.score{font-size:16px}}
@media print{.controls{position:static}.snip:empty{display:none}}
"""

_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("vm-data").textContent);
  var byId = {};
  data.forEach(function (c) { byId[c.id] = c; });
  var tbody = document.getElementById("vm-rows");
  var rows = Array.prototype.slice.call(tbody.querySelectorAll("tr.call"));
  var q = document.getElementById("vm-q"), lvl = document.getElementById("vm-level"),
      pr = document.getElementById("vm-prompts"), ag = document.getElementById("vm-agent"),
      er = document.getElementById("vm-errors"), rv = document.getElementById("vm-review"),
      count = document.getElementById("vm-count"), none = document.getElementById("vm-none");
  var sortKey = "rank", sortDir = 1;
  function esc(s) { return String(s).replace(/[&<>"']/g, function (ch) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch]; }); }
  function fmt(t) { t = Math.max(0, Math.round(t)); var m = Math.floor(t / 60), s = t % 60;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s; }
  function snippet(c, needle) {
    var out = [], n = 0;
    for (var i = 0; i < c.segs.length && n < 3; i++) {
      var seg = c.segs[i], text = seg[3], at = text.toLowerCase().indexOf(needle);
      if (at < 0) { continue; }
      n++;
      var a = Math.max(0, at - 50), b = Math.min(text.length, at + needle.length + 70);
      var html = (a > 0 ? "…" : "") + esc(text.slice(a, at)) + "<mark>" + esc(text.slice(at, at + needle.length)) +
        "</mark>" + esc(text.slice(at + needle.length, b)) + (b < text.length ? "…" : "");
      var label = '<span class="t">[' + fmt(seg[2]) + "]</span> " + esc(seg[1]) + ": " + html;
      out.push(c.link ? '<a href="' + esc(c.link) + "#seg-" + seg[0] + '">' + label + "</a>" : "<div>" + label + "</div>");
    }
    return out.join("");
  }
  function matches(c) {
    var level = +lvl.value;
    if (level > 0 && (c.status === "error" || c.level < level)) { return false; }
    if (pr.value === "fired" && !(c.prompts > 0)) { return false; }
    if (pr.value === "none" && c.prompts > 0) { return false; }
    if (ag.checked && !c.agent_escalated) { return false; }
    if (er.value === "with" && !c.has_errors) { return false; }
    if (er.value === "without" && c.has_errors) { return false; }
    if (rv.checked && !c.needs_review) { return false; }
    return true;
  }
  var last = null;
  function apply() {
    var needle = q.value.trim().toLowerCase(), shown = 0;
    var state = [needle, lvl.value, pr.value, ag.checked, er.value, rv.checked].join("|");
    if (state === last) { return; }  // a "change" after "input": keep the links being clicked
    last = state;
    rows.forEach(function (tr) {
      var c = byId[tr.dataset.id], ok = matches(c), snip = tr.querySelector(".snip");
      if (ok && needle) {
        var inName = c.file.toLowerCase().indexOf(needle) >= 0, inText = c.text.indexOf(needle) >= 0;
        ok = inName || inText;
        snip.innerHTML = ok && inText ? snippet(c, needle) : "";
      } else { snip.innerHTML = ""; }
      tr.hidden = !ok;
      if (ok) { shown++; }
    });
    count.textContent = shown + " of " + rows.length + " call" + (rows.length === 1 ? "" : "s") + " shown";
    none.hidden = shown > 0;
  }
  function sortBy(key) {
    if (sortKey === key) { sortDir = -sortDir; } else { sortKey = key; sortDir = key === "rank" || key === "file" ? 1 : -1; }
    rows.sort(function (x, y) {
      var a = byId[x.dataset.id][sortKey], b = byId[y.dataset.id][sortKey];
      if (a === b) { return byId[x.dataset.id].rank - byId[y.dataset.id].rank; }
      if (a === null) { return 1; } if (b === null) { return -1; }
      return (a < b ? -1 : 1) * sortDir;
    });
    rows.forEach(function (tr) { tbody.appendChild(tr); });
    Array.prototype.forEach.call(document.querySelectorAll("th[data-sort]"), function (th) {
      th.setAttribute("aria-sort", th.dataset.sort === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("th[data-sort] button"), function (b) {
    b.addEventListener("click", function () { sortBy(b.parentNode.dataset.sort); });
  });
  [q, lvl, pr, ag, er, rv].forEach(function (el) { el.addEventListener("input", apply); el.addEventListener("change", apply); });
  var params = new URLSearchParams(location.hash.slice(1));
  if (params.get("q")) { q.value = params.get("q"); }
  apply();
})();
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "—"
    s = int(round(value))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def _link(target: Any, base: Path | None) -> str:
    """A URL for ``target`` (a file path) relative to the folder ``base``."""
    if not target:
        return ""
    path = str(target)
    if base is not None:
        try:
            path = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
        except ValueError:  # another drive on Windows
            path = os.path.abspath(path)
    return quote(PurePath(path).as_posix())


def _segments(transcript: Any) -> list[list]:
    """``[[index, role, start_s, text], ...]`` in the report's order (the HTML report's ``seg-<index>``)."""
    if isinstance(transcript, str):
        return [[0, "", 0.0, transcript[:MAX_TRANSCRIPT_CHARS]]] if transcript else []
    segs = [s for s in transcript or () if isinstance(s, Mapping)]
    segs.sort(key=lambda s: _num(s.get("start")) or 0.0)  # as voicemon.report.html numbers them
    out, used = [], 0
    for k, s in enumerate(segs):
        text = str(s.get("text") or "")
        if not text or used > MAX_TRANSCRIPT_CHARS:
            continue
        used += len(text)
        out.append([k, str(s.get("role") or ""), round(_num(s.get("start")) or 0.0, 2), text])
    return out


def _entry(row: Mapping[str, Any], rank: int, base: Path | None) -> dict[str, Any]:
    reasons = review(row)
    failed = row.get("status") == "error"
    errors = int(_num(row.get("error_count")) or 0)
    segs = _segments(row.get("transcript"))
    file = str(row.get("file") or "")
    return {
        "id": f"c{rank}", "rank": rank, "file": file, "status": "error" if failed else "ok",
        "level": level_rank(row.get("caller_peak_level")), "level_name": str(row.get("caller_peak_level") or ""),
        "score": _num(row.get("caller_peak_score")), "heated_s": _num(row.get("caller_heated_or_above_s")),
        "agent_level": str(row.get("agent_peak_level") or ""), "agent_score": _num(row.get("agent_peak_score")),
        "agent_heated_s": _num(row.get("agent_heated_or_above_s")),
        "agent_escalated": agent_escalated(row), "agent_above": agent_above_caller(row),
        "prompts": int(_num(row.get("prompts_fired")) or 0), "fell": int(_num(row.get("prompts_followed_by_fall")) or 0),
        "cues": int(_num(row.get("cues_escalating")) or 0), "duration_s": _num(row.get("duration_s")),
        "has_errors": failed or errors > 0, "errors": errors, "needs_review": bool(reasons), "reasons": reasons,
        "link": _link(row.get("report_html"), base), "segs": segs,
        "text": (file + "\n" + "\n".join(s[3] for s in segs)).lower(),
    }


def _pill(level: str) -> str:
    return f'<span class="pill lvl-{level}">{_e(level)}</span>' if level in LEVELS else ""


def _row_html(c: dict[str, Any], row: Mapping[str, Any]) -> str:
    file = PurePath(c["file"])
    who = " · ".join(_e(row.get(k)) for k in ("agent_name", "agent_id", "queue") if row.get(k))
    badges = "".join(f'<span class="badge warn">{_e(r)}</span>' for r in c["reasons"])
    if c["agent_above"] and not c["agent_escalated"]:
        badges += '<span class="badge">agent peaked above the caller</span>'
    name = f'<a href="{_e(c["link"])}">{_e(file.name or c["file"])}</a>' if c["link"] else _e(file.name or c["file"])
    call = (f'<div class="name">{name}</div><div class="dir">{_e(str(file.parent)) if str(file.parent) != "." else ""}</div>'
            + (f'<div class="small">{who}</div>' if who else "") + badges + '<div class="snip"></div>')
    if c["status"] == "error":
        caller = '<span class="pill lvl-error">failed</span>'
        heated = agent = prompts = cues = '<span class="muted">—</span>'
    else:
        caller = (f'<span class="score">{c["score"]:.0f}</span>{_pill(c["level_name"])}' if c["score"] is not None
                  else '<span class="muted">—</span>')
        heated = f'{c["heated_s"]:.0f} s' if c["heated_s"] is not None else "—"
        if c["agent_level"]:
            flag = ' <b title="the agent peaked above the caller">▲</b>' if c["agent_above"] else ""
            agent = (f'{_pill(c["agent_level"])} <span class="num">{(c["agent_score"] or 0):.0f}</span>{flag}'
                     + (f'<div class="small muted">heated {c["agent_heated_s"]:.0f} s</div>' if c["agent_heated_s"] else ""))
        else:
            agent = '<span class="muted small">one voice</span>'
        prompts = (f'{c["prompts"]}' + (f' <span class="muted small">({c["fell"]} fell)</span>' if c["prompts"] else "")
                   + (f'<div class="small muted det">{_e(row.get("prompt_counts"))}</div>' if row.get("prompt_counts") else ""))
        top = " ".join(str(row.get("cue_counts") or "").split()[:4])
        cues = f'{c["cues"]}' + (f'<div class="small muted det" title="{_e(row.get("cue_counts"))}">{_e(top)}</div>' if top else "")
    report = f'<a href="{_e(c["link"])}">report</a>' if c["link"] else '<span class="muted">—</span>'
    return (f'<tr class="call{" review" if c["needs_review"] else ""}" data-id="{c["id"]}" data-file="{_e(c["file"])}" '
            f'data-level="{_e(c["level_name"] or c["status"])}">'
            f'<td class="rank">{c["rank"]}</td><td class="call-cell">{call}</td><td class="num">{caller}</td>'
            f'<td class="num">{heated}</td><td>{agent}</td><td class="num hide-narrow">{prompts}</td>'
            f'<td class="num hide-narrow">{cues}</td><td class="num hide-narrow">{_fmt_s(c["duration_s"])}</td>'
            f'<td class="hide-narrow">{report}</td></tr>')


def _totals(entries: list[dict[str, Any]]) -> str:
    ok = [c for c in entries if c["status"] == "ok"]
    by_level = {lvl: sum(1 for c in ok if c["level_name"] == lvl) for lvl in LEVELS}
    bar = "".join(f'<span class="b-{lvl}" style="width:{n / len(ok) * 100:.1f}%" title="{lvl}: {n}"></span>'
                  for lvl, n in by_level.items() if n) if ok else ""
    total_s = sum(c["duration_s"] or 0.0 for c in ok)
    heated_s = sum(c["heated_s"] or 0.0 for c in ok)
    prompts = sum(c["prompts"] for c in ok)
    fell = sum(c["fell"] for c in ok)
    cards = [
        ("Calls", f"{len(entries)}", f"{len(ok)} analysed · {len(entries) - len(ok)} failed"),
        ("Need review", f"{sum(1 for c in entries if c['needs_review'])}", "marked red below"),
        ("Caller peak", " · ".join(f"{by_level[lvl]}" for lvl in LEVELS),
         "calm · tense · heated · critical" + f'<div class="lvlbar">{bar}</div>'),
        ("Agent escalated", f"{sum(1 for c in ok if c['agent_escalated'])}",
         f"{sum(1 for c in ok if c['agent_above'])} peaked above the caller"),
        ("Audio", _fmt_s(total_s), f"caller heated or above {_fmt_s(heated_s)}"),
        ("Prompts", f"{prompts}", f"{fell} followed by a fall"),
    ]
    return '<div class="totals">' + "".join(
        f'<div class="tot"><div class="k">{k}</div><div class="v">{v}</div><div class="small muted">{s}</div></div>'
        for k, v, s in cards) + "</div>"


def render_index(rows: Iterable[Mapping[str, Any]], *, title: str = "voicemon batch",
                 link_base: Path | None = None, generated_at: str | None = None) -> str:
    """Render the batch index page.

    Args:
        rows: summary rows (see the module docstring), in any order; each may carry its
            ``transcript`` (list of segments, or text) for the search.
        title: the page's heading.
        link_base: the folder the page will be saved in: report links are made relative to it
            (``None``: links are the rows' paths as given).
        generated_at: shown in the header (default: now, UTC).

    Returns:
        A complete, self-contained HTML document.
    """
    rows = list(rows)
    ranked = rank_rows(rows)
    entries = [_entry(r, i, link_base) for i, r in enumerate(ranked, start=1)]
    body_rows = "".join(_row_html(c, r) for c, r in zip(entries, ranked))
    when = generated_at or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data = json.dumps([{k: v for k, v in c.items()} for c in entries], ensure_ascii=False, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    level_opts = "".join(f'<option value="{i}">{name}</option>' for i, name in
                         ((0, "any"), (1, "tense or higher"), (2, "heated or higher"), (3, "critical")))
    head = "".join(
        f'<th{" class=hide-narrow" if hide else ""} data-sort="{key}" aria-sort="{"ascending" if key == "rank" else "none"}">'
        f'<button type="button">{label}</button></th>' if key else f'<th{" class=hide-narrow" if hide else ""}>{label}</th>'
        for key, label, hide in (("rank", "#", False), ("file", "Call", False), ("score", "Caller peak", False),
                                 ("heated_s", "Heated+", False), ("agent_score", "Agent", False),
                                 ("prompts", "Prompts", True), ("cues", "Cues", True), ("duration_s", "Length", True),
                                 ("", "Report", True)))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>'
        f'<header><h1>{_e(title)}</h1><div class="muted small">{len(entries)} call(s) · worst first by the caller\'s '
        f'peak, then time at heated or above · generated {_e(when)}</div></header>'
        f'{_totals(entries)}'
        '<div class="controls" role="search">'
        '<input type="search" id="vm-q" placeholder="Search transcripts and file names" aria-label="Search transcripts">'
        f'<label>Caller peak <select id="vm-level">{level_opts}</select></label>'
        '<label>Prompts <select id="vm-prompts"><option value="any">any</option><option value="fired">fired</option>'
        '<option value="none">none</option></select></label>'
        '<label><input type="checkbox" id="vm-agent"> agent escalated</label>'
        '<label>Errors <select id="vm-errors"><option value="all">all</option><option value="with">with errors</option>'
        '<option value="without">without</option></select></label>'
        '<label><input type="checkbox" id="vm-review"> needs review</label>'
        f'<span id="vm-count" aria-live="polite">{len(entries)} of {len(entries)} calls shown</span></div>'
        f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead><tbody id="vm-rows">{body_rows}</tbody></table>'
        '<div id="vm-none" class="empty" hidden>No call matches these filters.</div></div>'
        '<p class="muted small">Needs review: the caller reached heated or higher, the agent\'s own meter reached '
        'tense or higher, or processing errors. ▲: the agent peaked above the caller. Click a column to sort.</p>'
        f'</main><script type="application/json" id="vm-data">{data}</script><script>{_JS}</script></body></html>\n'
    )


def _load_transcript(row: Mapping[str, Any]) -> Any:
    if row.get("transcript") is not None:
        return row["transcript"]
    path = row.get("report_json")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh).get("transcript")
    except (OSError, ValueError, AttributeError):
        return None


def write_index(rows: Iterable[Mapping[str, Any]], path: Path, *, title: str = "voicemon batch") -> Path:
    """Write ``index.html`` for a batch (whole or not at all).

    Args:
        rows: summary rows; a row without ``transcript`` gets it from its ``report_json`` file
            when that can be read (otherwise its transcript is not searchable).
        path: the page to write; report links are relative to its folder.
        title: the page's heading.

    Returns:
        ``path``.
    """
    rows = [{**r, "transcript": _load_transcript(r)} for r in rows]
    page = render_index(rows, title=title, link_base=path.parent)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


def write_batch_outputs(rows: Iterable[Mapping[str, Any]], out_dir: Path, *, csv: bool = True, index: bool = True,
                        title: str | None = None) -> dict[str, Any]:
    """After a batch run into ``out_dir``: update ``summary.csv`` and rebuild ``index.html``.

    Both cover every call analysed into the folder so far: this run's rows replace earlier rows
    of the same calls (:func:`voicemon.report.summary.merge_rows`) and the others are kept.

    Args:
        rows: this run's summary rows.
        out_dir: the batch's output folder.
        csv: write ``summary.csv``.
        index: write ``index.html``.
        title: the index page's heading (default: ``voicemon batch — <folder name>``).

    Returns:
        ``{"rows": all rows, "summary": path or None, "index": path or None}``.

    Raises:
        OSError: a file could not be written (the other one is still attempted first).
    """
    rows = [dict(r) for r in rows]
    summary_path, index_path = out_dir / "summary.csv", out_dir / "index.html"
    everything = merge_rows(read_summary(summary_path), rows)
    result: dict[str, Any] = {"rows": everything, "summary": None, "index": None}
    error: OSError | None = None
    if csv:
        try:
            write_summary(everything, summary_path, merge=False)
            result["summary"] = summary_path
        except OSError as exc:
            error = exc
    if index:
        by_file = {str(r.get("file")): r for r in rows}  # this run's rows may carry their transcripts
        page_rows = [by_file.get(str(r.get("file")), r) for r in everything]
        try:
            write_index(page_rows, index_path, title=title or f"voicemon batch — {out_dir.resolve().name}")
            result["index"] = index_path
        except OSError as exc:
            error = error or exc
    if error is not None:
        raise error
    return result
