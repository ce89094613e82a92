/* voicemon supervisor wall: every call as a tile, in a stable order (live calls by start time, then
 * ended calls, newest first). Tiles are updated in place, never rebuilt, so focus and the pointer
 * stay where they are. A call entering critical flashes (and chimes, when "sound" is on). */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  const tiles = new Map(); /* call_id -> {el, parts, level} */
  const soundOn = VM.option($("opt-sound"), "voicemon.wall.sound");
  let failures = 0;

  // the browser's copy of voicemon.events.caller_role (customer, else mixed, else the first role)
  function callerRole(call) {
    const r = call.readings || {};
    return r.customer ? "customer" : r.mixed ? "mixed" : (call.roles[0] || "customer");
  }

  function set(el, text) { if (el.textContent !== text) el.textContent = text; }

  function make(call) {
    const a = document.createElement("a");
    a.className = "tile";
    a.dataset.callId = call.call_id;
    const parts = {};
    for (const name of ["id", "agent", "level", "meta", "peak", "last"]) {
      parts[name] = document.createElement("div");
      parts[name].className = name;
      a.appendChild(parts[name]);
    }
    const dur = document.createElement("span");
    const score = document.createElement("span");
    parts.meta.append(dur, score);
    Object.assign(parts, { dur, score });
    return { el: a, parts, level: null };
  }

  function update(t, call) {
    const role = callerRole(call);
    const reading = (call.readings || {})[role];
    const peak = (call.peaks || {})[role] || (call.summary ? { level: call.summary.peak_level, score: call.summary.peak_score } : null);
    const level = call.ended ? (peak ? peak.level : "calm") : reading ? reading.level : "calm";
    const cls = `tile level-${level}${call.ended ? " ended" : ""}${t.el.classList.contains("flash") ? " flash" : ""}`;
    if (t.el.className !== cls) t.el.className = cls;
    t.el.dataset.level = level;
    t.el.dataset.ended = call.ended ? "1" : "0";
    const href = call.ended && call.report_url ? VM.withToken(call.report_url)
      : VM.withToken("/", { call: call.call_id, view: "supervisor" });
    if (t.el.getAttribute("href") !== href) t.el.setAttribute("href", href);
    set(t.parts.id, call.call_id);
    set(t.parts.agent, [call.agent_name || call.agent_id, call.queue].filter(Boolean).join(" · ") || "\u00a0");
    set(t.parts.level, call.ended ? `ended · peak ${peak ? peak.level : "calm"}` : level);
    set(t.parts.dur, VM.clock(call.media_s));
    const shown = call.ended ? peak : reading;
    set(t.parts.score, shown && typeof shown.score === "number" ? `${Math.round(shown.score)} / 100` : "–");
    const hot = (call.heated_s || {})[role] || 0;
    set(t.parts.peak, peak ? `peak ${peak.level} ${Math.round(peak.score)} · heated ${VM.clock(hot)}` : "no reading yet");
    set(t.parts.last, call.ended ? (call.report_url ? "Open the report" : "ended")
      : call.last_prompt ? `Last prompt: ${call.last_prompt.text}` : "No prompt yet");
    if (!call.ended && level === "critical" && t.level !== null && t.level !== "critical") alarm(t);
    t.level = level;
  }

  function alarm(t) {
    t.el.classList.remove("flash");
    void t.el.offsetWidth; /* restart the animation */
    t.el.classList.add("flash");
    setTimeout(() => t.el.classList.remove("flash"), 3000);
    if (soundOn()) VM.chime(988);
  }

  function order(calls) {
    const live = calls.filter((c) => !c.ended).sort((a, b) => (a.started_wall - b.started_wall) || (a.call_id < b.call_id ? -1 : 1));
    const ended = calls.filter((c) => c.ended).sort((a, b) => (b.ended_wall || 0) - (a.ended_wall || 0));
    return [...live, ...ended];
  }

  function render(calls) {
    const box = $("tiles");
    const seen = new Set();
    order(calls).forEach((call, i) => {
      let t = tiles.get(call.call_id);
      if (!t) { t = make(call); tiles.set(call.call_id, t); }
      update(t, call);
      seen.add(call.call_id);
      if (box.children[i] !== t.el) box.insertBefore(t.el, box.children[i] || null);
    });
    for (const [id, t] of tiles) {
      if (!seen.has(id)) { t.el.remove(); tiles.delete(id); }
    }
    const live = calls.filter((c) => !c.ended).length;
    set($("count"), `${live} live call${live === 1 ? "" : "s"}`);
    set($("notice"), calls.length ? "" : "No calls right now.");
  }

  async function poll() {
    try {
      render(await VM.listCalls());
      failures = 0;
      $("conn").className = "conn live";
      set($("conn"), "live");
    } catch (e) {
      if (e.status === 401) {
        $("conn").className = "conn unauthorized";
        set($("conn"), "wrong token");
        set($("notice"), `voicemon refused this page (${e.message}). Open it with the link the server printed (…?token=…).`);
        document.body.dataset.state = "unauthorized";
        return; /* retrying cannot help */
      }
      failures += 1;
      $("conn").className = "conn reconnecting";
      set($("conn"), "reconnecting…");
      set($("notice"), `Cannot reach voicemon (${e.message}).`);
    }
    setTimeout(poll, Math.min(POLL_MS * 2 ** failures, 5000));
  }

  poll();
})();
