"""Render a call report (the dict written as JSON) into one self-contained HTML page.

The page has no external resources: inline CSS, an inline SVG meter timeline and a little vanilla
JavaScript that links times in the tables and transcript to a cursor on the plot (and back).
Every piece of text taken from the report is HTML-escaped.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from html import escape
from typing import Any

from voicemon.events import caller_role
from voicemon.report.html_audio import AUDIO_JS, audio_link, player  # noqa: F401 (audio_link: public here too)
from voicemon.report.html_plot import (
    DEFAULT_EDGES, LEVELS, PLOT_JS, as_dict, as_list, fmt_time, level_edges, level_for, num, ordered_roles,
    readings_by_role, render_contributions, render_timeline, role_class, role_label,
)
from voicemon.report.html_style import CALL_REPORT_CSS




def _e(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def _secs(value: Any) -> str:
    """A duration in seconds for a stat card (``—`` when unknown)."""
    v = num(value, None)
    if v is None:
        return "—"
    if v == 0:
        return "0 s"
    if v < 10:
        return f"{v:.1f} s"
    return f"{v:.0f} s" if v < 120 else f"{fmt_time(v)} min"


def _tbtn(t: Any, brackets: bool = False) -> str:
    """A clickable time button that moves the plot cursor."""
    v = num(t, None)
    if v is None:
        return '<span class="muted">--:--</span>'
    label = f"[{fmt_time(v)}]" if brackets else fmt_time(v)
    return f'<button type="button" class="t" data-t="{v:.2f}" title="Show on the plot">{label}</button>'


def _pill(level: str | None) -> str:
    lvl = level if level in LEVELS else None
    return f'<span class="pill lvl-{lvl}">{_e(level)}</span>' if lvl else f'<span class="pill">{_e(level or "—")}</span>'


def _duration(report: dict) -> float:
    """Media duration: ``duration_s``, else the latest time seen anywhere in the report."""
    d = num(report.get("duration_s"), None)
    if d and d > 0:
        return d
    times = [num(x.get(k), 0.0) or 0.0 for key in ("readings", "cues", "prompts", "transcript")
             for x in as_list(report.get(key)) for k in ("t", "end")]
    return max([1.0, *times])


def _generated(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "—"
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if dt.tzinfo is not None and dt.utcoffset() == timezone.utc.utcoffset(None):
        return dt.strftime("%Y-%m-%d %H:%M UTC")
    return dt.strftime("%Y-%m-%d %H:%M %z").strip()


def _peak(role: str, st: dict, series: dict, edges: dict[str, float]) -> tuple[float | None, float | None, str | None]:
    """Peak score, time and level of a role: from the stats, else from the readings."""
    score, t, lvl = num(st.get("peak_score"), None), num(st.get("peak_t"), None), st.get("peak_level")
    if score is None and series.get(role):
        t, score, _ = max(series[role], key=lambda p: p[1])
    if score is not None and not isinstance(lvl, str):
        lvl = level_for(score, edges)
    return score, t, lvl if isinstance(lvl, str) else None


def _header(report: dict, roles: list[str], series: dict, edges: dict[str, float], duration: float) -> str:
    model = as_dict(report.get("model"))
    per = as_dict(as_dict(report.get("stats")).get("per_role"))
    caller = report.get("caller_role")
    main_role = caller if caller in roles else (caller_role(roles) if roles else None)
    if main_role is None:
        verdict, vcls = "No speakers or meter readings in this report.", "v-none"
    else:
        score, t, lvl = _peak(main_role, as_dict(per.get(main_role)), series, edges)
        who = "The call" if main_role == "mixed" else main_role.capitalize()
        if score is None:
            verdict, vcls = f"{_e(who)}: no meter readings.", "v-none"
        elif lvl == "calm":
            verdict, vcls = f"{_e(who)} stayed {_pill(lvl)} — peak score {score:.0f} at {_tbtn(t)}.", "v-calm"
        else:
            verdict = f"{_e(who)} peaked at {_pill(lvl)} — score <b>{score:.0f}</b>/100 at {_tbtn(t)}."
            vcls = f"v-{lvl}" if lvl in LEVELS else "v-none"
    errors = as_list(report.get("errors"))
    banner = ""
    if errors:
        fatal = sum(1 for e in errors if e.get("fatal"))
        banner = (f'<p class="banner">{len(errors)} error(s) during processing'
                  f'{f", {fatal} fatal" if fatal else ""} — see the end of the page.</p>')
    for warning in as_list(report.get("warnings")):
        banner += f'<p class="banner">Warning: {_e(warning)}</p>'
    banner += _agent_note(per, main_role) + _lag_note(report)
    return (f'<header><h1>Call report</h1><div class="src">{_e(report.get("source") or "(unknown source)")}</div>'
            f'<div class="meta"><span>Duration <b>{fmt_time(duration)}</b></span>'
            f'<span>Generated <b>{_e(_generated(report.get("generated_at")))}</b></span>'
            f'<span>Model <b>{_e(model.get("name") or "—")}</b></span>'
            f'<span>Roles <b>{_e(", ".join(role_label(r) for r in roles) or "—")}</b></span>'
            f'{_lag_meta(report)}</div>'
            f'{_speakers_line(report)}'
            f'<p class="verdict {vcls}">{verdict}</p>{banner}</header>')


def _agent_note(per: dict, main_role: str | None) -> str:
    """A line when the agent's own meter escalated (tense or higher), or peaked above the caller's."""
    agent = as_dict(per.get("agent"))
    if main_role in (None, "agent") or not agent:
        return ""
    a, c = num(agent.get("peak_score"), None), num(as_dict(per.get(main_role)).get("peak_score"), None)
    lvl = agent.get("peak_level")
    if a is None or (lvl not in ("tense", "heated", "critical") and not (c is not None and a > c)):
        return ""
    above = f", above the caller's peak of {c:.0f}" if c is not None and a > c else ""
    return (f'<p class="note agent-note">The agent\'s own meter peaked at {_pill(lvl)} — score <b>{a:.0f}</b>'
            f' at {_tbtn(agent.get("peak_t"))}{above}.</p>')


def _lag(report: dict) -> dict:
    return as_dict(as_dict(report.get("stats")).get("asr_lag_s"))


def _lag_meta(report: dict) -> str:
    """ASR lag in the header of a live report (``analyze`` has no transcription delay to speak of)."""
    lag = _lag(report)
    if not report.get("call_id") or num(lag.get("p90"), None) is None:
        return ""
    return (f'<span title="media time from the end of each utterance to its text">ASR lag '
            f'<b>{num(lag.get("median")):.1f} s</b> median · <b>{num(lag.get("p90")):.1f} s</b> p90</span>')


def _lag_note(report: dict) -> str:
    """On a live report whose transcription ran late: say so, and how to get a QA-grade report."""
    from voicemon.report.model import LAG_NOTE_S

    lag = _lag(report)
    p90 = num(lag.get("p90"), None)
    if not report.get("call_id") or p90 is None or p90 <= LAG_NOTE_S:
        return ""
    src = str(report.get("source") or "")
    again = (f'<code>voicemon analyze {_e(src)}</code>' if src and ":" not in src.split("/")[0]
             else "<code>voicemon analyze</code> on the call's recording")
    return (f'<p class="banner lag-note">Live transcription ran behind the audio (p90 {p90:.1f} s, max '
            f'{num(lag.get("max")):.1f} s): word cues and the prompts they fire came that late, so levels and prompts '
            f'can differ from an analysis of the recording. For a QA-grade report re-analyse it: {again}.</p>')


def _speakers_line(report: dict) -> str:
    """How a mono call's roles were found: diarization, who is the agent and how sure."""
    dia = as_dict(report.get("diarization"))
    if not dia:
        return ""
    if dia.get("speakers") != 2:
        text = (f"Mono call: one voice found (speaker split coherence {num(dia.get('coherence')):.2f}), "
                "scored as one mixed speaker.")
    else:
        choice = as_dict(dia.get("roles"))
        how = ("set by --agent-speaker" if choice.get("method") == "flag"
               else f"chosen from the words and turns, confidence {num(choice.get('confidence')) * 100:.0f} %")
        evidence = ", ".join(str(e) for e in as_list(choice.get("evidence"))[:6])
        text = (f"Mono call split into two speakers ({_e(str(dia.get('method')))} embeddings). "
                f"Agent = the {_e(str(choice.get('agent_speaker')))} speaker, {how}"
                + (f" ({_e(evidence)})." if evidence else "."))
    return f'<p class="speakers">{text}</p>'



def _stat_cards(report: dict, roles: list[str], series: dict, edges: dict[str, float]) -> str:
    stats = as_dict(report.get("stats"))
    per = as_dict(stats.get("per_role"))
    cards = []
    for role in roles:
        st = as_dict(per.get(role))
        score, t, lvl = _peak(role, st, series, edges)
        tl = {k: num(v, 0.0) or 0.0 for k, v in as_dict(st.get("time_in_level_s")).items()}
        total = sum(tl.values())
        bar = "".join(f'<span class="lvl-{k}" style="width:{tl.get(k, 0) / total * 100:.1f}%" '
                      f'title="{k}: {_secs(tl.get(k, 0))}"></span>' for k in LEVELS) if total else ""
        talk = [f"talk {_secs(st['talk_time_s'])}" if num(st.get("talk_time_s"), None) is not None else "",
                f"{num(st['mean_rate_syl_s']):.1f} syl/s" if num(st.get("mean_rate_syl_s"), None) is not None else ""]
        talk_html = " · ".join(f"<span class=nw>{x}</span>" for x in talk if x) or "&nbsp;"
        cards.append(
            f'<div class="card"><div class="stat-k"><span class="dot bg-{role_class(role)}"></span>{_e(role_label(role))} peak</div>'
            f'<div class="stat-v">{"—" if score is None else f"{score:.0f}"} {_pill(lvl) if lvl else ""}</div>'
            f'<div class="stat-s">at {_tbtn(t)}</div>'
            + (f'<div class="lvlbar">{bar}</div><div class="stat-s"><span class="nw">heated {_secs(tl.get("heated", 0))}</span> · '
               f'<span class="nw">critical {_secs(tl.get("critical", 0))}</span></div>' if total else "")
            + f'<div class="stat-s">{talk_html}</div></div>')
    ratio = num(stats.get("talk_ratio_agent"), None)
    if ratio is not None:
        ratio = min(1.0, max(0.0, ratio))
        cards.append(f'<div class="card"><div class="stat-k">Agent talk share</div>'
                     f'<div class="stat-v">{ratio * 100:.0f}%</div><div class="split">'
                     f'<span class="bg-agent" style="width:{ratio * 100:.1f}%"></span>'
                     f'<span class="bg-customer" style="width:{(1 - ratio) * 100:.1f}%"></span></div>'
                     f'<div class="stat-s"><span class="nw">agent {ratio * 100:.0f}%</span> · <span class="nw">customer {(1 - ratio) * 100:.0f}%</span></div></div>')
    if stats.get("overtalk_count") is not None or stats.get("overtalk_s") is not None:
        cards.append(f'<div class="card"><div class="stat-k">Overtalk</div><div class="stat-v">'
                     f'{_e(stats.get("overtalk_count", "—"))}×</div><div class="stat-s">'
                     f'{_secs(stats.get("overtalk_s"))} talking over each other</div></div>')
    if stats.get("longest_silence_s") is not None:
        cards.append(f'<div class="card"><div class="stat-k">Longest silence</div><div class="stat-v">'
                     f'{_secs(stats.get("longest_silence_s"))}</div><div class="stat-s">dead air on the line</div></div>')
    fired = num(stats.get("prompts_fired"), None)
    if fired is None:
        fired = float(len(as_list(report.get("prompts"))))
    worked = num(stats.get("prompts_effective"), None)
    fell = num(stats.get("prompts_followed_by_fall"), None)
    fell_txt = ("none fired" if not fired else
                f'<span class="ok">{worked:.0f}</span> worked (see the outcomes)' if worked is not None else
                f'<span class="ok">{fell:.0f}</span> followed by a fall of the meter' if fell is not None
                else "outcome not recorded")
    cards.append(f'<div class="card"><div class="stat-k">Coaching prompts</div><div class="stat-v">{fired:.0f}</div>'
                 f'<div class="stat-s">{fell_txt}</div></div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _timeline(report: dict, roles: list[str], duration: float, edges: dict[str, float]) -> str:
    legend = "".join(f'<span><span class="sw{" thin" if r == "agent" else ""}" style="border-top-color:'
                     f'var(--{role_class(r) if r in ("customer", "agent", "mixed") else "other"})"></span>{_e(role_label(r))}</span>'
                     for r in roles)
    legend += ('<span><span class="sw dash"></span>prompt</span>'
               '<span style="color:var(--up)">▲ escalating cue</span>'
               '<span style="color:var(--down)">▼ de-escalating cue</span>')
    return (f'<section id="vm-timeline"><div class="plot-head"><h2 style="margin:0">Escalation meter</h2>'
            f'<div class="legend">{legend}</div></div>{render_timeline(report, roles, duration, edges)}'
            f'<div class="plot-head" style="margin:4px 0 0"><div id="vm-readout" class="readout" aria-live="polite"></div>'
            f'<div class="muted small">Hover for scores · click to jump to the transcript</div></div></section>')


def _prompts(report: dict) -> str:
    prompts = as_list(report.get("prompts"))
    if not prompts:
        return '<section><h2>Coaching prompts</h2><p class="muted">No prompts were fired.</p></section>'
    acks: dict[str, list[dict]] = {}
    for a in as_list(report.get("acknowledgements")):
        acks.setdefault(str(a.get("prompt_id")), []).append(a)
    rows = []
    for i, p in enumerate(prompts, start=1):
        outcome = _outcome_cell(as_dict(p.get("outcome")))
        prio = f" · priority {_e(p['priority'])}" if p.get("priority") is not None else ""
        ack = "<br>".join(f'{_e(a.get("action", "ack"))} at {_tbtn(a.get("t"))}' for a in acks.get(str(p.get("id")), []))
        rows.append(f'<tr id="prompt-{i}"><td><span class="num">{i}</span></td><td>{_tbtn(p.get("t"))}</td>'
                    f'<td><b>{_e(p.get("text"))}</b><div class="tech">{_e(p.get("kind"))}'
                    f'{prio}</div></td>'
                    f'<td>{_e(p.get("technique"))}</td><td>{_e(p.get("reason"))}</td><td>{outcome}</td>'
                    + (f'<td>{ack or "<span class=muted>—</span>"}</td>' if acks else "") + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("#", "Time", "Prompt", "Technique", "Reason", "Outcome"))
    head += "<th>Agent response</th>" if acks else ""
    return (f'<section><h2>Coaching prompts</h2><div style="overflow-x:auto"><table>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>')


def _outcome_cell(out: dict) -> str:
    """A prompt's outcome: ✓/✗ by whether it met its goal, in words that cannot contradict the marks."""
    at, after = num(out.get("score_at"), None), num(out.get("score_after"), None)
    if at is None and after is None:
        return '<span class="muted">no data</span>'
    success = out.get("success", out.get("fell"))
    summary = out.get("summary")
    if not isinstance(summary, str):  # a report from before outcome summaries
        change = (after or 0.0) - (at or 0.0)
        summary = (f"meter {'fell' if change < 0 else 'rose'} {abs(change):.1f} points ({at:.1f} → {after:.1f})"
                   if at is not None and after is not None else "")
    mark = ('<span class="ok">✓ worked</span>' if success is True else
            '<span class="no">✗ did not work</span>' if success is False else "")
    crit = out.get("criterion")
    title = f' title="Worked = {_e(crit)}"' if crit else ""
    return f'{mark}<br><span class="small outcome"{title}>{_e(summary)}</span>'


def _cue_pattern(evidence: str) -> re.Pattern[str] | None:
    """A case-insensitive pattern for a cue phrase that tolerates punctuation between words."""
    words = re.findall(r"[\w']+", evidence.lower().replace("’", "'"))
    if not words:
        return None
    parts = [re.escape(w).replace("'", "['’]") for w in words]
    return re.compile(r"(?<![\w'’])" + r"[^\w'’]+".join(parts) + r"(?![\w'’])", re.IGNORECASE)


def _highlight(text: str, cues: list[dict]) -> tuple[str, list[dict]]:
    """Escape ``text`` with cue phrases marked; returns the markup and the cues not found in it."""
    spans: list[tuple[int, int, dict]] = []
    unmatched = []
    for cue in cues:
        pat = _cue_pattern(str(cue.get("evidence") or ""))
        hits = [m for m in pat.finditer(text)] if pat else []
        for m in hits:
            if all(m.end() <= a or m.start() >= b for a, b, _ in spans):
                spans.append((m.start(), m.end(), cue))
        if not hits:
            unmatched.append(cue)
    out, pos = [], 0
    for a, b, cue in sorted(spans, key=lambda s: s[0]):
        w = num(cue.get("weight"), 0.0) or 0.0
        out.append(_e(text[pos:a]))
        out.append(f'<mark class="{"up" if w > 0 else "down" if w < 0 else "zero"}" '
                   f'title="{_e(cue.get("kind"))} ({w:+.2f})">{_e(text[a:b])}</mark>')
        pos = b
    out.append(_e(text[pos:]))
    return "".join(out), unmatched


def _transcript(report: dict, player: str = "") -> str:
    segs = sorted(as_list(report.get("transcript")), key=lambda s: num(s.get("start"), 0.0) or 0.0)
    if not segs:
        return '<section><h2>Transcript</h2><p class="muted">No transcript in this report.</p></section>'
    cues = [c for c in as_list(report.get("cues")) if num(c.get("t"), None) is not None]
    items: list[tuple[float, int, str]] = []
    for i, p in enumerate(as_list(report.get("prompts")), start=1):
        pt = num(p.get("t"), None)
        if pt is not None:
            items.append((pt, 1, f'<div class="prow"><a href="#prompt-{i}" class="num" style="text-decoration:none">'
                                 f'{i}</a> {_tbtn(pt)} Prompt: <b>{_e(p.get("text"))}</b></div>'))
    for k, s in enumerate(segs):
        start = num(s.get("start"), 0.0) or 0.0
        end = max(start, num(s.get("end"), start) or start)
        role = str(s.get("role") or "")
        mine = [c for c in cues if c.get("role") == role and start - 0.25 <= num(c["t"]) <= end + 0.25]
        body, rest = _highlight(str(s.get("text") or ""), mine)
        chips = "".join(f'<span class="chip {"up" if (num(c.get("weight")) or 0) > 0 else "down" if (num(c.get("weight")) or 0) < 0 else "zero"}" '
                        f'title="{_e(c.get("evidence"))}">{_e(c.get("kind"))}</span>' for c in rest)
        rc = role_class(role)
        items.append((start, 0, f'<div class="seg r-{rc}" id="seg-{k}" data-start="{start:.2f}" data-end="{end:.2f}">'
                                f'<div>{_tbtn(start, brackets=True)}</div><div class="who r-{rc}">{_e(role_label(role).split(" (")[0])}</div>'
                                f'<div>{body}{chips}</div></div>'))
    items.sort(key=lambda it: (it[0], it[1]))
    keys = ('<div class="keys"><span><mark class="up">phrase</mark> escalating cue</span>'
            '<span><mark class="down">phrase</mark> de-escalating cue</span>'
            '<span><span class="chip up" style="margin:0">kind</span> non-verbal cue</span></div>')
    return (f'<section{" class=has-audio" if player else ""}><h2>Transcript</h2>{player}{keys}'
            f'<div class="transcript" id="vm-transcript">{"".join(html for _, _, html in items)}</div></section>')


def _contributions(roles: list[str], series: dict, report: dict | None = None) -> str:
    blocks = []
    notes_at = {}
    for r in (report or {}).get("readings") or []:
        if isinstance(r, dict) and r.get("notes"):
            notes_at[(r.get("role"), r.get("t"))] = r["notes"] if isinstance(r["notes"], list) else []
    per = as_dict(as_dict((report or {}).get("stats")).get("per_role"))
    calm_agent = ""
    for role in roles:
        if not series.get(role):
            continue
        t, score, contrib = max(series[role], key=lambda p: p[1])
        if role == "agent" and len(roles) > 1 and as_dict(per.get("agent")).get("peak_level", level_for(score, DEFAULT_EDGES)) == "calm":
            calm_agent = (f'<p class="muted small">The agent stayed calm (peak {score:.0f} at {_tbtn(t)}): '
                          'nothing to explain on their meter.</p>')
            continue
        blocks.append(f'<div><h3 style="font-size:14px;margin:0 0 6px"><span class="dot bg-{role_class(role)}"></span>'
                      f'{_e(role_label(role))} — score {score:.0f} at {_tbtn(t)}</h3>'
                      f'{render_contributions(contrib, notes=notes_at.get((role, t), ()))}</div>')
    body = (f'<div class="cbs">{"".join(blocks)}</div>' if blocks
            else '<p class="muted">No readings, so no contributions to show.</p>') + calm_agent
    return (f'<section><details open><summary>Contributions at peak</summary>'
            f'<p class="muted small" style="margin-top:0">What pushed each meter up (warm) or down (cool) '
            f'at its highest reading.</p>{body}</details></section>')


def _footer(report: dict) -> str:
    errors = as_list(report.get("errors"))
    err = ""
    if errors:
        rows = "".join(f'<tr><td>{_tbtn(e.get("t"))}</td><td>{_e(e.get("stage"))}</td><td>{_e(e.get("message"))}</td>'
                       f'<td>{"<span class=no>fatal</span>" if e.get("fatal") else "warning"}</td></tr>' for e in errors)
        err = (f'<section><h2>Errors</h2><table><thead><tr><th>Time</th><th>Stage</th><th>Message</th>'
               f'<th>Severity</th></tr></thead><tbody>{rows}</tbody></table></section>')
    cfg = json.dumps(report.get("config") or {}, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    model = as_dict(report.get("model"))
    path = f" ({_e(model['path'])})" if model.get("path") else ""
    return (f'{err}<section><details><summary>Effective configuration</summary><pre>{_e(cfg)}</pre></details></section>'
            f'<footer>voicemon {_e(report.get("voicemon_version") or "?")} · report format '
            f'{_e(report.get("report_version") or "?")} · model {_e(model.get("name") or "—")}'
            f'{path}</footer>')


def render_html(report: dict, audio_src: str | None = None) -> str:
    """Render a call report into one self-contained HTML page.

    Args:
        report: the report dict exactly as written to JSON (see :mod:`voicemon.report`); any piece
            may be missing or empty.
        audio_src: a URL of the call's recording, relative to where the page is saved (see
            :func:`voicemon.report.html_audio.audio_link`): the transcript gets a player and a click
            on a line plays from there. The audio is linked, never embedded.

    Returns:
        A complete HTML document (inline CSS, SVG and JavaScript; no external resources).
    """
    report = as_dict(report)
    roles = ordered_roles(report)
    edges = level_edges(report)
    series = readings_by_role(report)
    duration = _duration(report)
    title = f"Call report — {report.get('source') or 'unknown source'}"
    body = "".join((_header(report, roles, series, edges, duration), _stat_cards(report, roles, series, edges),
                    _timeline(report, roles, duration, edges), _prompts(report), _contributions(roles, series, report),
                    _transcript(report, player(audio_src)), _footer(report)))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{_e(title)}</title><style>{CALL_REPORT_CSS}</style></head>'
            f'<body><main>{body}</main><script>{PLOT_JS}{AUDIO_JS if audio_src else ""}</script></body></html>\n')
