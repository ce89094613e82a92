"""The call report page's inline style sheet (:func:`voicemon.report.html.render_html`).

Kept apart from the rendering code; the page embeds it in one ``<style>`` element, so the report
stays one self-contained file.
"""

CALL_REPORT_CSS = """
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
