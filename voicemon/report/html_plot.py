"""Inline-SVG and bar-chart pieces of the HTML call report (see :mod:`voicemon.report.html`).

Everything here returns markup strings built with the standard library only; every piece of text
that comes from the report is escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from voicemon.events import LEVELS
DEFAULT_EDGES: dict[str, float] = {"tense": 35.0, "heated": 60.0, "critical": 80.0}
ROLE_ORDER: tuple[str, ...] = ("customer", "mixed", "agent")

# Plot geometry in viewBox units.
W, H = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 62, 58, 30, 196
CUE_Y = 208
MAX_POINTS = 1800  # per role; longer calls are thinned keeping each bucket's highest score


# The page script: links clickable times to a cursor on the plot, and plot clicks to the transcript.
PLOT_JS = """
(function () {
  "use strict";
  var svg = document.getElementById("vm-plot");
  if (!svg) { return; }
  var d = svg.dataset, x0 = +d.x0, pw = +d.pw, dur = +d.dur || 1, top = +d.top, bot = +d.bot, vbw = +d.vbw;
  var cursor = document.getElementById("vm-cursor"), hover = document.getElementById("vm-hover");
  var readout = document.getElementById("vm-readout"), card = document.getElementById("vm-timeline");
  var lines = Array.prototype.slice.call(svg.querySelectorAll("polyline[data-role]"));
  var segs = Array.prototype.slice.call(document.querySelectorAll(".seg[data-start]"));
  var timer = null;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function fmt(t) {
    t = Math.max(0, Math.round(t));
    var h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : pad(m) + ":" + pad(s);
  }
  function xOf(t) { return x0 + Math.max(0, Math.min(dur, t)) / dur * pw; }
  function tOf(e) {
    var r = svg.getBoundingClientRect(), vx = (e.clientX - r.left) / r.width * vbw;
    return Math.max(0, Math.min(dur, (vx - x0) / pw * dur));
  }
  function scoreAt(line, x) {
    var pts = line.points, lo = 0, hi = pts.numberOfItems - 1, mid;
    if (hi < 0) { return null; }
    while (lo < hi) { mid = (lo + hi) >> 1; if (pts.getItem(mid).x < x) { lo = mid + 1; } else { hi = mid; } }
    if (lo > 0 && Math.abs(pts.getItem(lo - 1).x - x) < Math.abs(pts.getItem(lo).x - x)) { lo -= 1; }
    return (bot - pts.getItem(lo).y) / (bot - top) * 100;
  }
  function show(t) {
    var x = xOf(t), out = [fmt(t)];
    lines.forEach(function (l) {
      var s = scoreAt(l, x);
      if (s !== null) { out.push(l.getAttribute("data-role") + " " + Math.round(s)); }
    });
    if (readout) { readout.textContent = out.join("  \\u00b7  "); }
    return x;
  }
  function setCursor(t) {
    cursor.setAttribute("transform", "translate(" + show(t) + ",0)");
    cursor.classList.add("on");
  }
  window.vmSetCursor = setCursor;
  function nearestSeg(t) {
    var best = null, bd = Infinity;
    segs.forEach(function (s) {
      var a = +s.dataset.start, b = +s.dataset.end, dd = t < a ? a - t : (t > b ? t - b : 0);
      if (dd < bd) { bd = dd; best = s; }
    });
    return best;
  }
  document.addEventListener("click", function (e) {
    var el = e.target && e.target.closest ? e.target.closest("[data-t]") : null;
    if (!el || svg.contains(el)) { return; }
    e.preventDefault();
    setCursor(+el.dataset.t);
    (card || svg).scrollIntoView({ behavior: "smooth", block: "start" });
  });
  svg.addEventListener("click", function (e) {
    var t = tOf(e), s = nearestSeg(t);
    setCursor(t);
    if (!s) { return; }
    segs.forEach(function (o) { o.classList.remove("flash"); });
    void s.offsetWidth;
    s.classList.add("flash");
    s.scrollIntoView({ behavior: "smooth", block: "center" });
    clearTimeout(timer);
    timer = setTimeout(function () { s.classList.remove("flash"); }, 2100);
  });
  svg.addEventListener("mousemove", function (e) {
    hover.setAttribute("transform", "translate(" + show(tOf(e)) + ",0)");
    hover.classList.add("on");
  });
  svg.addEventListener("mouseleave", function () { hover.classList.remove("on"); });
})();
"""


def num(value: Any, default: float | None = 0.0) -> float | None:
    """Return ``value`` as a finite float, or ``default`` when it is missing or not a number."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def as_dict(value: Any) -> dict:
    """Return ``value`` if it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    """Return the dict items of ``value`` if it is a list, else an empty list."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def fmt_time(t: float | None) -> str:
    """Format seconds as ``mm:ss`` (``h:mm:ss`` from one hour on); ``--:--`` when unknown."""
    if t is None:
        return "--:--"
    s = max(0, int(round(t)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def level_edges(report: dict) -> dict[str, float]:
    """Band edges ``{"tense", "heated", "critical"}`` from ``report["levels"]`` or the defaults."""
    given = as_dict(report.get("levels"))
    edges = {k: num(given.get(k), v) for k, v in DEFAULT_EDGES.items()}
    lo = 0.0
    for k in ("tense", "heated", "critical"):  # keep the edges ordered and inside 0–100
        edges[k] = min(100.0, max(lo, edges[k]))
        lo = edges[k]
    return edges


def level_for(score: float, edges: dict[str, float]) -> str:
    """The level name for a score under the given band edges."""
    for name in ("critical", "heated", "tense"):
        if score >= edges[name]:
            return name
    return "calm"


def ordered_roles(report: dict) -> list[str]:
    """Roles to show, customer/mixed first, from ``report["roles"]`` plus any seen in readings."""
    seen = [r for r in report.get("roles") or [] if isinstance(r, str)]
    for item in as_list(report.get("readings")) + as_list(report.get("transcript")):
        role = item.get("role")
        if isinstance(role, str) and role not in seen:
            seen.append(role)
    rank = {r: i for i, r in enumerate(ROLE_ORDER)}
    return sorted(dict.fromkeys(seen), key=lambda r: rank.get(r, len(rank)))


ROLE_LABELS = {"customer": "Customer", "agent": "Agent", "mixed": "Call (both voices)"}
"""How each role is named on the page (a one-channel call's single meter is the whole call's)."""


def role_label(role: str) -> str:
    """The page's name for a role: ``Customer``, ``Agent``, ``Call (both voices)``."""
    return ROLE_LABELS.get(role, role.capitalize())


def role_class(role: str) -> str:
    """A CSS-safe class suffix for a role name."""
    return "".join(c for c in role.lower() if c.isalnum()) or "other"


def readings_by_role(report: dict) -> dict[str, list[tuple[float, float, dict]]]:
    """``role -> [(t, score, contributions)]`` sorted by time, skipping malformed readings."""
    out: dict[str, list[tuple[float, float, dict]]] = {}
    for r in as_list(report.get("readings")):
        t, score = num(r.get("t"), None), num(r.get("score"), None)
        if t is None or score is None or not isinstance(r.get("role"), str):
            continue
        out.setdefault(r["role"], []).append(
            (t, min(100.0, max(0.0, score)), as_dict(r.get("contributions"))))
    for pts in out.values():
        pts.sort(key=lambda p: p[0])
    return out


def _thin(points: list[tuple[float, float, dict]], duration: float) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return [(t, s) for t, s, _ in points]
    buckets: dict[int, tuple[float, float]] = {}
    for t, s, _ in points:
        b = int(t / duration * MAX_POINTS)
        if b not in buckets or s > buckets[b][1]:
            buckets[b] = (t, s)
    return [buckets[b] for b in sorted(buckets)]


def _tick_step(duration: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration / step <= 10:
            return float(step)
    return 7200.0


def render_timeline(report: dict, roles: list[str], duration: float,
                    edges: dict[str, float]) -> str:
    """The meter timeline as one inline ``<svg>``.

    Args:
        report: the call report dict.
        roles: roles to draw, in drawing order of importance (first is drawn on top).
        duration: media duration in seconds (> 0), the x-axis extent.
        edges: level band edges from :func:`level_edges`.

    Returns:
        SVG markup; ``data-*`` attributes on the root carry the geometry the page script needs.
    """
    pw, ph = W - LEFT - RIGHT, BOTTOM - TOP

    def x(t: float) -> float:
        return round(LEFT + min(max(t, 0.0), duration) / duration * pw, 1)

    def y(score: float) -> float:
        return round(BOTTOM - score / 100.0 * ph, 1)

    parts = [f'<svg id="vm-plot" class="plot" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="Escalation meter over time" data-x0="{LEFT}" data-pw="{pw}" '
             f'data-dur="{duration:.3f}" data-top="{TOP}" data-bot="{BOTTOM}" data-vbw="{W}">']
    bounds = [0.0, edges["tense"], edges["heated"], edges["critical"], 100.0]
    for i, name in enumerate(LEVELS):  # background stripes, labelled in the right margin
        lo, hi = bounds[i], bounds[i + 1]
        if hi <= lo:
            continue
        parts.append(f'<rect class="band band-{name}" x="{LEFT}" y="{y(hi)}" width="{pw}" '
                     f'height="{round(y(lo) - y(hi), 1)}"><title>{name}: {lo:g}–{hi:g}</title></rect>')
        parts.append(f'<text class="band-label lvl-text-{name}" x="{W - RIGHT + 6}" '
                     f'y="{round((y(lo) + y(hi)) / 2 + 4, 1)}">{name}</text>')
    step = _tick_step(duration)
    t = 0.0
    while t <= duration + 1e-6:  # time grid and mm:ss tick labels
        parts.append(f'<line class="grid" x1="{x(t)}" y1="{TOP}" x2="{x(t)}" y2="{BOTTOM}"/>'
                     f'<text class="tick" x="{x(t)}" y="{H - 22}" text-anchor="middle">'
                     f'{fmt_time(t)}</text>')
        t += step
    for v in sorted({0.0, 100.0, *bounds[1:4]}):
        parts.append(f'<line class="hgrid" x1="{LEFT}" y1="{y(v)}" x2="{LEFT + pw}" y2="{y(v)}"/>'
                     f'<text class="tick" x="{LEFT - 6}" y="{y(v) + 4}" text-anchor="end">'
                     f'{v:g}</text>')
    parts.append(f'<text class="axis-label" x="{LEFT + pw / 2}" y="{H - 4}" '
                 f'text-anchor="middle">time (mm:ss)</text>')

    series = readings_by_role(report)
    if not any(series.get(r) for r in roles):
        parts.append(f'<text class="empty" x="{LEFT + pw / 2}" y="{TOP + ph / 2}" '
                     f'text-anchor="middle">No meter readings in this report</text>')
    for role in reversed(roles):  # the first role (customer) is drawn last, on top
        pts = _thin(series.get(role, []), duration)
        if not pts:
            continue
        coords = " ".join(f"{x(t)},{y(s)}" for t, s in pts)
        rc = role_class(role)
        parts.append(f'<polyline class="line role-line line-{rc}" data-role="{escape(role)}" '
                     f'points="{coords}"/>')
        pt, ps = max(pts, key=lambda p: p[1])
        parts.append(f'<circle class="peak fill-{rc}" cx="{x(pt)}" cy="{y(ps)}" r="4">'
                     f'<title>{escape(role_label(role))} peak {ps:.0f} at {fmt_time(pt)}</title></circle>')

    cue_rows = {r: i for i, r in enumerate(roles)}
    if len(roles) > 1:
        for role, i in cue_rows.items():
            parts.append(f'<text class="cue-label" x="{LEFT - 6}" y="{CUE_Y + 11 * i + 3}" '
                         f'text-anchor="end">{escape(role[:10])}</text>')
    for cue in as_list(report.get("cues")):
        ct = num(cue.get("t"), None)
        if ct is None:
            continue
        w = num(cue.get("weight"), 0.0) or 0.0
        cy = CUE_Y + 11 * cue_rows.get(str(cue.get("role")), 0)
        cx = x(ct)
        cls, shape = (("cue-up", f"{cx - 4},{cy + 3} {cx + 4},{cy + 3} {cx},{cy - 4}") if w > 0
                      else ("cue-down", f"{cx - 4},{cy - 3} {cx + 4},{cy - 3} {cx},{cy + 4}")
                      if w < 0 else ("cue-zero", f"{cx - 3},{cy} {cx},{cy - 3} {cx + 3},{cy} {cx},{cy + 3}"))
        tip = (f"{fmt_time(ct)} {cue.get('role', '')} · {cue.get('kind', 'cue')} ({w:+.2f})"
               f"\n“{cue.get('evidence', '')}”")
        parts.append(f'<polygon class="cue {cls}" points="{shape}"><title>{escape(tip)}</title>'
                     f'</polygon>')

    last_x, row = -100.0, 0
    for i, p in enumerate(as_list(report.get("prompts")), start=1):
        pt = num(p.get("t"), None)
        if pt is None:
            continue
        px = x(pt)
        row = 1 - row if px - last_x < 18 else 0  # stagger badges that would overlap
        last_x = px
        by = TOP - 13 if row == 0 else TOP + 11
        tip = f"Prompt {i} at {fmt_time(pt)}: {p.get('text', '')}"
        if p.get("technique"):
            tip += f"\n{p['technique']}"
        parts.append(f'<g class="prompt-marker" data-prompt="{i}"><title>{escape(tip)}</title>'
                     f'<line x1="{px}" y1="{TOP}" x2="{px}" y2="{BOTTOM}"/>'
                     f'<circle cx="{px}" cy="{by}" r="8.5"/>'
                     f'<text x="{px}" y="{by + 3.5}" text-anchor="middle">{i}</text></g>')

    parts.append(f'<line id="vm-hover" class="hover" x1="0" y1="{TOP}" x2="0" y2="{BOTTOM}"/>'
                 f'<g id="vm-cursor" class="cursor"><line x1="0" y1="{TOP}" x2="0" '
                 f'y2="{BOTTOM}"/><path d="M-5,{TOP - 1} L5,{TOP - 1} L0,{TOP + 6} Z"/></g>'
                 "</svg>")
    return "".join(parts)


def render_contributions(contributions: dict, limit: int = 14, notes=()) -> str:
    """A small horizontal bar chart of one reading's contributions (HTML, centred at zero),
    grouped as Voice, Words and Conversation, each term with a human label.

    Args:
        contributions: ``name -> value`` (logit units; positive pushes the meter up).
        limit: at most this many bars, the largest magnitudes.
        notes: the reading's notes (how the fusion treated the voice), shown under the bars.

    Returns:
        HTML markup; positive bars are warm, negative bars cool.
    """
    from voicemon.escalation.labels import GROUP_LABELS, label_of
    from voicemon.escalation.meter import group_of

    items = [(str(k), v) for k, v in ((k, num(v, None)) for k, v in contributions.items())
             if v is not None and abs(v) >= 0.005 and k != "bias"]
    if not items:
        return '<p class="muted">No contributions recorded for this reading.</p>'
    items = sorted(items, key=lambda kv: -abs(kv[1]))[:limit]
    scale = max(abs(v) for _, v in items) or 1.0
    rows = []
    for group in ("voice", "words", "conversation"):
        mine = sorted((kv for kv in items if group_of(kv[0]) == group), key=lambda kv: -kv[1])
        if not mine:
            continue
        subtotal = sum(v for _, v in mine)
        rows.append(f'<div class="cb-group"><b>{GROUP_LABELS[group]}</b> <span class="muted small">{subtotal:+.2f}</span></div>')
        for name, v in mine:
            width = abs(v) / scale * 50
            side = "pos" if v > 0 else "neg"
            pos = f"left:50%;width:{width:.1f}%" if v > 0 else f"right:50%;width:{width:.1f}%"
            rows.append(f'<div class="cb-row"><span class="cb-name" title="{escape(name)}">'
                        f'{escape(label_of(name))}</span><span class="cb-track"><span class="cb-bar {side}" '
                        f'style="{pos}"></span></span><span class="cb-val {side}">{v:+.2f}</span></div>')
    total = sum(num(v, 0.0) or 0.0 for v in contributions.values())
    note_html = "".join(f'<p class="muted small">{escape(str(n))}</p>' for n in (notes or ()) if n)
    return (f'<div class="cb">{"".join(rows)}</div>{note_html}'
            f'<p class="muted small">Sum of all contributions (resting point {num(contributions.get("bias"), 0.0) or 0.0:+.2f} included): {total:+.2f}</p>')
