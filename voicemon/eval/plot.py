"""Self-contained SVG plots of evaluation results (no plotting library needed)."""

from __future__ import annotations

from html import escape

from voicemon.eval import metrics
from voicemon.eval.corpus import NEUTRAL_LABEL, POSITIVE_LABEL

PALETTE = ["#1c7ed6", "#e8590c", "#2f9e44", "#9c36b5", "#c92a2a", "#5f3dc4", "#0b7285"]
PANEL_PX = 260
PAD_PX = 36


def _curve(points: list[tuple[float, float]], x0: float, y0: float, size: float) -> str:
    return " ".join(f"{x0 + fpr * size:.1f},{y0 + (1 - tpr) * size:.1f}" for fpr, tpr in points)


def roc_svg(scored: dict, title: str) -> str:
    """ROC curves, angry vs neutral body clips: one panel per system, one curve per transform.

    Args:
        scored: ``transform -> {"clips": rows, ...}`` from :func:`voicemon.eval.clips.score_corpus`.
        title: heading.

    Returns:
        An SVG document.
    """
    systems = ("meter", "baseline")
    width = PAD_PX + len(systems) * (PANEL_PX + PAD_PX) + 150
    height = PANEL_PX + 2 * PAD_PX + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="system-ui,sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="#fff"/>',
             f'<text x="{PAD_PX}" y="20" font-size="14" font-weight="600">{escape(title)}</text>']
    for i, system in enumerate(systems):
        x0 = PAD_PX + i * (PANEL_PX + PAD_PX)
        y0 = PAD_PX + 10
        parts.append(f'<rect x="{x0}" y="{y0}" width="{PANEL_PX}" height="{PANEL_PX}" fill="none" stroke="#adb5bd"/>')
        parts.append(f'<line x1="{x0}" y1="{y0 + PANEL_PX}" x2="{x0 + PANEL_PX}" y2="{y0}" stroke="#dee2e6" stroke-dasharray="4 4"/>')
        parts.append(f'<text x="{x0 + PANEL_PX / 2}" y="{y0 - 6}" text-anchor="middle" font-weight="600">{system}</text>')
        parts.append(f'<text x="{x0 + PANEL_PX / 2}" y="{y0 + PANEL_PX + 16}" text-anchor="middle" fill="#495057">'
                     f'false alarms (neutral)</text>')
        parts.append(f'<text x="{x0 - 8}" y="{y0 + PANEL_PX / 2}" text-anchor="middle" fill="#495057" '
                     f'transform="rotate(-90 {x0 - 8} {y0 + PANEL_PX / 2})">angry detected</text>')
        for j, (t_name, r) in enumerate(scored.items()):
            body = [c for c in r["clips"] if c["phase"] == "body"]
            pos = [c[system]["score"] for c in body if c["label"] == POSITIVE_LABEL]
            neg = [c[system]["score"] for c in body if c["label"] == NEUTRAL_LABEL]
            pts = metrics.roc_curve(pos, neg)
            if pts:
                colour = PALETTE[j % len(PALETTE)]
                parts.append(f'<polyline points="{_curve(pts, x0, y0, PANEL_PX)}" fill="none" stroke="{colour}" '
                             f'stroke-width="{2.2 if t_name == "clean" else 1.3}"/>')
    lx = PAD_PX + len(systems) * (PANEL_PX + PAD_PX)
    for j, (t_name, r) in enumerate(scored.items()):
        colour = PALETTE[j % len(PALETTE)]
        y = PAD_PX + 20 + j * 34
        auc_m = r["meter"]["auc_angry_vs_neutral"]
        auc_b = r["baseline"]["auc_angry_vs_neutral"]
        parts.append(f'<line x1="{lx}" y1="{y}" x2="{lx + 18}" y2="{y}" stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<text x="{lx + 24}" y="{y + 4}">{escape(t_name)}</text>')
        parts.append(f'<text x="{lx + 24}" y="{y + 18}" fill="#495057" font-size="11">AUC {_auc(auc_m)} / {_auc(auc_b)}</text>')
    parts.append(f'<text x="{lx}" y="{PAD_PX + 20 + len(scored) * 34}" fill="#868e96" font-size="11">meter / baseline</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _auc(x) -> str:
    return "–" if x is None else f"{x:.3f}"
