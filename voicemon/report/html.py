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

_CSS = """
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#e3e7ed;--bg:#f4f6f9;--card:#fff;--accent:#5f3dc4;
--customer:#3b5bdb;--agent:#0b7285;--mixed:#495057;--other:#7048e8;--up:#d9480f;--down:#1971c2}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 20px 40px}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:0 0 12px}
header .src{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted);word-break:break-all}
.meta{display:flex;flex-wrap:wrap;gap:6px 22px;margin:10px 0 0;color:var(--muted)}.meta b{color:var(--ink);font-weight:600}
.verdict{margin:14px 0 0;padding:12px 16px;border-radius:10px;background:var(--card);border:1px solid var(--line);border-left:5px solid #adb5bd;font-size:15px}
.verdict.v-calm{border-left-color:#2f9e44}.verdict.v-tense{border-left-color:#f0b400}.verdict.v-heated{border-left-color:#f76707}.verdict.v-critical{border-left-color:#e03131}
.banner{margin:10px 0 0;padding:8px 14px;border-radius:8px;background:#fff5f5;border:1px solid #ffc9c9;color:#a61e1e}
section,.card{background:var(--card);border:1px solid var(--line);border-radius:12px}
section{padding:16px 18px;margin-top:18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:12px;margin-top:18px}
.card{padding:12px 14px}.stat-k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.stat-v{font-size:26px;font-weight:650;line-height:1.25;margin:2px 0}.stat-s{color:var(--muted);font-size:12.5px}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:6px;background:var(--other)}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;vertical-align:middle}
.lvl-calm{background:#d3f9d8;color:#24692f}.lvl-tense{background:#fff3bf;color:#7a5600}
.lvl-heated{background:#ffe8cc;color:#9a3f00}.lvl-critical{background:#ffe3e3;color:#b02525}
.lvlbar,.split{display:flex;height:7px;border-radius:4px;overflow:hidden;background:#edf0f3;margin:7px 0 4px}
.lvlbar span.lvl-calm,.key.lvl-calm{background:#8ce99a}.lvlbar span.lvl-tense,.key.lvl-tense{background:#ffd43b}
.lvlbar span.lvl-heated,.key.lvl-heated{background:#ffa94d}.lvlbar span.lvl-critical,.key.lvl-critical{background:#ff6b6b}
.bg-customer,.dot.bg-customer{background:var(--customer)}.bg-agent{background:var(--agent)}.bg-mixed{background:var(--mixed)}
.plot-head{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:8px;margin-bottom:6px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;color:var(--muted);font-size:12.5px;align-items:center}
.sw{display:inline-block;width:22px;height:0;border-top:3px solid var(--other);vertical-align:middle;margin-right:5px}
.sw.thin{border-top-width:2px}.sw.dash{border-top:2px dashed var(--accent)}
.readout{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--ink);min-height:18px}
svg.plot{width:100%;height:auto;display:block;cursor:crosshair;user-select:none}
.band-calm{fill:#ebf8ee}.band-tense{fill:#fff8df}.band-heated{fill:#ffeedd}.band-critical{fill:#ffecec}
.band-label{font-size:11px;font-weight:600}.lvl-text-calm{fill:#2b8a3e}.lvl-text-tense{fill:#946c00}.lvl-text-heated{fill:#c25100}.lvl-text-critical{fill:#c92a2a}
.grid{stroke:#000;stroke-opacity:.06}.hgrid{stroke:#000;stroke-opacity:.1;stroke-dasharray:2 3}
.tick,.cue-label,.axis-label{font-size:11px;fill:#5f6b7a}.axis-label{font-size:10.5px}.cue-label{font-size:9.5px}.empty{font-size:14px;fill:#868e96}
.role-line{fill:none;stroke:var(--other);stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
.line-customer{stroke:var(--customer);stroke-width:2.8}.line-agent{stroke:var(--agent);stroke-width:1.7;stroke-opacity:.9}
.line-mixed{stroke:var(--mixed);stroke-width:2.6}
.peak{stroke:#fff;stroke-width:1.5;fill:var(--other)}.fill-customer{fill:var(--customer)}.fill-agent{fill:var(--agent)}.fill-mixed{fill:var(--mixed)}
.prompt-marker line{stroke:var(--accent);stroke-width:1.3;stroke-dasharray:4 3;opacity:.75}
.prompt-marker circle{fill:var(--accent)}.prompt-marker text{fill:#fff;font-size:10.5px;font-weight:700}
.cue-up{fill:var(--up)}.cue-down{fill:var(--down)}.cue-zero{fill:#868e96}
.cursor line{stroke:#212529;stroke-width:1.6}.cursor path{fill:#212529}.hover{stroke:#212529;stroke-opacity:.35;stroke-width:1}
.cursor,.hover{visibility:hidden;pointer-events:none}.cursor.on,.hover.on{visibility:visible}
table{width:100%;border-collapse:collapse;font-size:13.5px}th{text-align:left;font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
th,td{padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}tr:last-child td{border-bottom:0}
.num{display:inline-grid;place-items:center;width:20px;height:20px;border-radius:50%;background:var(--accent);color:#fff;font-size:11px;font-weight:700}
button.t{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#364fc7;background:#edf2ff;border:0;border-radius:5px;padding:1px 6px;cursor:pointer}
button.t:hover,button.t:focus-visible{background:#dbe4ff;outline:2px solid #91a7ff}
.ok{color:#2b8a3e;font-weight:700}.no{color:#c92a2a;font-weight:700}.muted{color:var(--muted)}.nw{white-space:nowrap}.small{font-size:12px}
.tech{color:var(--muted);font-size:12.5px}
.transcript{max-height:640px;overflow:auto;border:1px solid var(--line);border-radius:8px}
.seg{display:grid;grid-template-columns:64px 84px 1fr;gap:10px;padding:7px 12px;border-left:4px solid var(--other);border-bottom:1px solid #f0f2f5}
.seg.r-customer{border-left-color:var(--customer)}.seg.r-agent{border-left-color:var(--agent);background:#fafcfc}.seg.r-mixed{border-left-color:var(--mixed)}
.who{font-size:12px;font-weight:700;text-transform:capitalize;color:var(--other)}
.who.r-customer{color:var(--customer)}.who.r-agent{color:var(--agent)}.who.r-mixed{color:var(--mixed)}
.seg.flash{animation:flash 2s ease-out}@keyframes flash{0%,35%{background:#fff3bf}100%{background:transparent}}
.prow{padding:6px 12px 6px 86px;background:#f3f0ff;border-bottom:1px solid #e5dbff;color:#4c2fa3;font-size:13px}
mark{border-radius:3px;padding:0 2px;color:inherit}mark.up{background:#ffe0c2;box-shadow:inset 0 -2px #f08c00}
mark.down{background:#d7ecff;box-shadow:inset 0 -2px #339af0}
.chip{display:inline-block;margin-left:6px;padding:0 7px;border-radius:999px;font-size:11px;border:1px solid}
.chip.up{color:#a63c06;border-color:#ffc078;background:#fff4e6}.chip.down{color:#1864ab;border-color:#a5d8ff;background:#e7f5ff}
.chip.zero{color:#5f6b7a;border-color:#ced4da}
details>summary{cursor:pointer;font-weight:650;font-size:16px}details[open]>summary{margin-bottom:12px}
.cbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.cb-row{display:grid;grid-template-columns:190px 1fr 54px;gap:8px;align-items:center;font-size:12.5px;margin:3px 0}
.cb-name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-family:inherit}
.cb-group{font-size:12.5px;margin:8px 0 2px}
.cb-track{position:relative;height:12px;background:linear-gradient(#ced4da,#ced4da) center/1px 100% no-repeat}
.cb-bar{position:absolute;top:1px;bottom:1px;border-radius:2px}.cb-bar.pos{background:#ff922b}.cb-bar.neg{background:#4dabf7}
.cb-val{text-align:right;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}.cb-val.pos{color:#a63c06}.cb-val.neg{color:#1864ab}
pre{background:#f8f9fb;border:1px solid var(--line);border-radius:8px;padding:12px;overflow:auto;font-size:12px;max-height:420px}
footer{margin-top:18px;color:var(--muted);font-size:12.5px}
.keys{display:flex;gap:14px;flex-wrap:wrap;font-size:12px;color:var(--muted);margin:0 0 8px}.key{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.note{margin:10px 0 0;padding:8px 14px;border-radius:8px;background:var(--card);border:1px solid var(--line);border-left:5px solid #f76707}
.player{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;margin:0 0 10px}.player audio{width:min(100%,520px);height:36px}
.player.unreachable audio{display:none}
.has-audio .seg{cursor:pointer}.has-audio .seg:hover{background:#f1f3f5}
.seg.playing{background:#fff9db;box-shadow:inset 3px 0 #f59f00}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:rgba(127,127,127,.14);padding:0 4px;border-radius:4px}
@media (max-width:560px){main{padding:16px 10px 32px}.seg{grid-template-columns:auto 1fr;gap:2px 8px}
.seg>div:last-child{grid-column:1/-1}.prow{padding-left:12px}section{padding:14px 12px}}
@media (prefers-color-scheme: dark){
:root{color-scheme:dark;--ink:#e6e9ee;--muted:#a3adba;--line:#333a44;--bg:#14171c;--card:#1d2128;--accent:#b197fc;
--customer:#74a0ff;--agent:#3bc9db;--mixed:#ced4da;--other:#b197fc;--up:#ff922b;--down:#4dabf7}
.banner{background:#3b1d1d;border-color:#6b2b2b;color:#ffc9c9}
.lvl-calm{background:#1f3a25;color:#8ce99a}.lvl-tense{background:#3d3413;color:#ffe066}
.lvl-heated{background:#45280f;color:#ffc078}.lvl-critical{background:#4a1d1d;color:#ffa8a8}
.lvlbar,.split{background:#2a2f37}
.band-calm{fill:#1b2a20}.band-tense{fill:#2b2715}.band-heated{fill:#2f2114}.band-critical{fill:#301a1a}
.grid,.hgrid{stroke:#fff}.tick,.cue-label,.axis-label{fill:#a3adba}.peak{stroke:#14171c}
.cursor line,.hover{stroke:#e6e9ee}.cursor path{fill:#e6e9ee}
button.t{color:#bac8ff;background:#263056}button.t:hover,button.t:focus-visible{background:#2f3b6b}
.seg{border-bottom-color:#262b33}.seg.r-agent{background:#1a2226}.prow{background:#2a2440;border-bottom-color:#3b3360;color:#d0bfff}
.has-audio .seg:hover{background:#252a32}.seg.playing{background:#3a3210}
mark.up{background:#5a3413}mark.down{background:#173a5a}
.chip.up{color:#ffc078;border-color:#8a4b12;background:#34220f}.chip.down{color:#a5d8ff;border-color:#1c5a8a;background:#102a40}
pre{background:#171a20}.ok{color:#69db7c}.no{color:#ff8787}
@keyframes flash{0%,35%{background:#5c4b00}100%{background:transparent}}}
@media print{
body{background:#fff;color:#000;font-size:11.5px}main{max-width:none;padding:0}
section,.card{break-inside:auto;border-color:#ccc}.seg,.prow,tr{break-inside:avoid}
.transcript{max-height:none;overflow:visible;border:0}
pre{max-height:none;overflow:visible;white-space:pre-wrap}
.player,.cursor,.hover,#vm-readout{display:none}button.t{background:none;color:inherit;padding:0}
.seg.playing,.seg.flash{background:none;box-shadow:none;animation:none}}
"""



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
            f'<title>{_e(title)}</title><style>{_CSS}</style></head>'
            f'<body><main>{body}</main><script>{PLOT_JS}{AUDIO_JS if audio_src else ""}</script></body></html>\n')
