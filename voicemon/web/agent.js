/* voicemon agent view: one call's meters, the current coaching prompt and the transcript. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_LINES = 14;
  const TREND_STEADY = 4; /* points per 10 s below which the meter is "steady" */

  const state = {
    callId: VM.params.get("call"),
    roles: [],
    mediaS: 0,
    epoch: 0, /* bumps when the server restarted and the call was opened again */
    lines: new Map(), /* key -> {role, start, text, final, marks: [{evidence, calming}]} */
    order: [],
    prompts: new Map(), /* id -> prompt envelope */
    handled: new Set(), /* prompt ids acknowledged or dismissed */
    pendingAcks: [],
    shownPrompt: null,
    feed: null,
  };

  function setConn(kind, detail) {
    const el = $("conn");
    el.className = `conn ${kind}`;
    el.textContent = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", ended: "call ended" }[kind] || kind;
    el.title = detail || "";
  }

  function notice(text) { $("notice").textContent = text || ""; }

  function callerRole() { return state.roles.includes("customer") ? "customer" : (state.roles[0] || "customer"); }

  function setupRoles(roles) {
    state.roles = roles;
    const mixed = roles.length === 1;
    $("caller-label").textContent = mixed ? "Call (both parties on one channel)" : "Customer";
    $("meter-caller").dataset.role = callerRole();
    $("meter-agent").hidden = mixed || !roles.includes("agent");
  }

  /* ---------- meters ---------- */

  function showReading(env) {
    const which = env.role === "agent" && state.roles.includes("customer") ? "agent" : env.role === callerRole() ? "caller" : null;
    if (!which) return;
    const meter = $(`meter-${which}`);
    meter.className = `meter${which === "agent" ? " small" : ""} level-${env.level}`;
    meter.dataset.level = env.level;
    meter.dataset.score = String(env.score);
    $(`${which}-level`).textContent = env.level;
    $(`${which}-score`).textContent = `${Math.round(env.score)} / 100`;
    $(`${which}-bar`).style.width = `${Math.max(0, Math.min(100, env.score))}%`;
    const trend = env.trend || 0;
    const [arrow, word] = trend > TREND_STEADY ? ["↑", "rising"] : trend < -TREND_STEADY ? ["↓", "falling"] : ["→", "steady"];
    const t = $(`${which}-trend`);
    t.textContent = arrow;
    const small = document.createElement("small");
    small.textContent = word;
    t.appendChild(small);
    showWhy($(`${which}-why`), env);
  }

  /* Why the meter stands where it does: the voice and the words, each with its largest term. */
  const GROUP_NAMES = { voice: "Voice", words: "Words", conversation: "Conversation" };
  const KEY_NAMES = {
    loudness: "louder", pitch: "higher pitch", hammarberg: "vocal effort", harmonicity: "harsher voice",
    pitch_range: "pitch range", rate: "faster", tilt: "brighter voice",
    "words:negative": "negative sentence", "words:positive": "positive sentence", "text:anger": "angry words",
    "text:insult": "insult", "text:profanity": "swearing", "text:threat_cancel": "threat to cancel",
    "text:threat_escalate": "threat to escalate", "text:repetition": "repeating a complaint",
    "text:ultimatum": "ultimatum", "text:losing_control": "losing patience", "text:distress": "worried",
    "text:calm_down": "“calm down”", "text:policy": "policy", "text:hold_request": "hold request",
    "text:apology": "apology", "text:empathy": "empathy", "text:offer": "offer", "text:thanks": "thanks",
    "conversation:overtalk": "overtalk", "conversation:dead_air": "dead air", "conversation:monologue": "monologue",
  };
  function groupOf(key) {
    if (key === "bias") return "bias";
    if (!key.includes(":")) return "voice";
    return ["text", "words"].includes(key.split(":")[0]) ? "words" : "conversation";
  }
  function showWhy(el, env) {
    if (!el) return;
    const contributions = env.contributions || {};
    const parts = {};
    const top = {};
    for (const [key, value] of Object.entries(contributions)) {
      const g = groupOf(key);
      if (g === "bias") continue;
      parts[g] = (parts[g] || 0) + value;
      if (!top[g] || Math.abs(value) > Math.abs(top[g][1])) top[g] = [key, value];
    }
    const bits = [];
    for (const g of ["voice", "words", "conversation"]) {
      if (parts[g] === undefined || Math.abs(parts[g]) < 0.05) continue;
      const [key] = top[g];
      const sign = parts[g] > 0 ? "+" : "−";
      bits.push(`${GROUP_NAMES[g]} ${sign}${Math.abs(parts[g]).toFixed(1)} (${KEY_NAMES[key] || key.split(":").pop().replace(/_/g, " ")})`);
    }
    el.textContent = bits.join(" · ");
    el.title = (env.notes || []).join("\n");
  }

  /* ---------- prompts ---------- */

  function activePrompts() {
    return [...state.prompts.values()]
      .filter((p) => !state.handled.has(p.id) && p.expires_at > state.mediaS)
      .sort((a, b) => (b.priority - a.priority) || (b.t - a.t));
  }

  function renderPrompt() {
    const live = activePrompts();
    const card = $("prompt");
    const top = live[0];
    if (!top) {
      card.hidden = true;
      card.dataset.promptId = "";
      state.shownPrompt = null;
      return;
    }
    if (state.shownPrompt !== top.id) {
      state.shownPrompt = top.id;
      card.dataset.promptId = top.id;
      card.dataset.kind = top.kind;
      $("prompt-technique").textContent = top.technique;
      $("prompt-text").textContent = top.text;
      $("prompt-reason").textContent = top.reason;
    }
    $("prompt-more").textContent = live.length > 1 ? `+${live.length - 1} more` : "";
    card.hidden = false;
  }

  function act(action) {
    const id = state.shownPrompt;
    if (!id) return;
    state.handled.add(id);
    const msg = { type: "ack", v: 1, call_id: state.callId, prompt_id: id, action };
    if (!state.feed || !state.feed.send(msg)) state.pendingAcks.push(msg);
    renderPrompt();
  }

  function flushAcks() {
    while (state.pendingAcks.length && state.feed && state.feed.send(state.pendingAcks[0])) state.pendingAcks.shift();
  }

  /* ---------- transcript ---------- */

  function lineKey(env) { return `${state.epoch}:${env.utterance_id}`; }

  function markedText(container, text, marks) {
    const lower = text.toLowerCase();
    const ranges = [];
    for (const m of marks) {
      const needle = m.evidence.toLowerCase().trim();
      if (!needle) continue;
      let i = lower.indexOf(needle);
      while (i >= 0) {
        ranges.push([i, i + needle.length, m.calming]);
        i = lower.indexOf(needle, i + needle.length);
      }
    }
    ranges.sort((a, b) => a[0] - b[0]);
    let pos = 0;
    for (const [lo, hi, calming] of ranges) {
      if (lo < pos) continue;
      container.appendChild(document.createTextNode(text.slice(pos, lo)));
      const mark = document.createElement("mark");
      if (calming) mark.className = "calming";
      mark.textContent = text.slice(lo, hi);
      container.appendChild(mark);
      pos = hi;
    }
    container.appendChild(document.createTextNode(text.slice(pos)));
  }

  function renderLines() {
    const box = $("lines");
    box.textContent = "";
    const keys = state.order.slice(-MAX_LINES);
    if (!keys.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "Nothing said yet.";
      box.appendChild(p);
      return;
    }
    let epoch = null;
    for (const key of keys) {
      const line = state.lines.get(key);
      if (epoch !== null && line.epoch !== epoch) {
        const d = document.createElement("div");
        d.className = "divider";
        d.textContent = "— voicemon restarted; the call continues —";
        box.appendChild(d);
      }
      epoch = line.epoch;
      const row = document.createElement("div");
      row.className = `line role-${line.role}${line.final ? "" : " interim"}`;
      row.dataset.key = key;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = line.role === "agent" ? "You" : line.role === "customer" ? "Customer" : "Call";
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = VM.clock(line.start);
      const text = document.createElement("span");
      text.className = "text";
      markedText(text, line.text, line.marks);
      row.append(who, when, text);
      box.appendChild(row);
    }
  }

  function showTranscript(env) {
    const key = lineKey(env);
    let line = state.lines.get(key);
    if (!line) {
      if (!env.text) return;
      line = { role: env.role, start: env.start, text: "", final: false, marks: [], epoch: state.epoch };
      state.lines.set(key, line);
      state.order.push(key);
      state.order.sort((a, b) => {
        const la = state.lines.get(a), lb = state.lines.get(b);
        return (la.epoch - lb.epoch) || (la.start - lb.start);
      });
    }
    if (line.final) return; /* final text never changes */
    line.text = env.text;
    line.final = !!env.final;
    if (line.final && !env.text) {
      state.lines.delete(key);
      state.order = state.order.filter((k) => k !== key);
    }
    renderLines();
  }

  function showCue(env) {
    if (env.source !== "text" || !env.evidence) return;
    const needle = env.evidence.toLowerCase();
    for (let i = state.order.length - 1; i >= 0; i--) {
      const line = state.lines.get(state.order[i]);
      if (line.epoch === state.epoch && line.role === env.role && line.text.toLowerCase().includes(needle)) {
        line.marks.push({ evidence: env.evidence, calming: env.weight < 0 });
        renderLines();
        return;
      }
    }
  }

  /* ---------- the feed ---------- */

  function onEvent(env) {
    if (typeof env.t === "number") state.mediaS = Math.max(state.mediaS, env.t);
    switch (env.type) {
      case "call_started": setupRoles(env.roles); break;
      case "reading": showReading(env); break;
      case "transcript": showTranscript(env); break;
      case "cue": showCue(env); break;
      case "prompt": state.prompts.set(env.id, env); break;
      case "prompt_ack": state.handled.add(env.prompt_id); break;
      case "asr_status": notice(env.state === "ok" ? "" : `Transcript delayed: ${env.message}`); break;
      case "speakers":  // one-channel call: mixed until two voices are told apart, then agent/customer
        setupRoles(env.roles);
        notice(env.state === "split" ? "Voices told apart: Customer and Agent meters from here on." : "");
        if (env.state === "mixed") $("caller-label").textContent = "Call (both voices on one meter until they are told apart)";
        break;
      case "call_ended": {
        const report = env.summary && env.summary.report;
        notice(`Call ended after ${VM.clock(env.summary ? env.summary.duration_s : state.mediaS)}.` + (report ? ` Report: ${report}` : ""));
        break;
      }
      default: break;
    }
    renderPrompt();
  }

  function start(callId) {
    state.callId = callId;
    $("call-id").textContent = `call ${callId}`;
    document.title = `voicemon — ${callId}`;
    $("wall-link").href = VM.withToken("/wall");
    state.feed = VM.follow(callId, {
      onEvent,
      onState(kind, detail) {
        setConn(kind, detail);
        if (kind === "live") flushAcks();
      },
      onRestart() {
        /* Tentative text of the old server will never be finished: drop it. */
        state.order = state.order.filter((k) => state.lines.get(k).final || !state.lines.delete(k));
        state.epoch += 1;
        state.mediaS = 0;
        state.prompts.clear();
        state.handled.clear();
        renderPrompt();
      },
      onError(message) { notice(message); },
    });
  }

  /* Without ?call=, follow the only live call (or ask which one). */
  async function pickCall() {
    let calls;
    try {
      calls = await VM.listCalls();
    } catch (e) {
      setConn("reconnecting", e.message);
      notice(`Cannot reach voicemon (${e.message}); retrying…`);
      setTimeout(pickCall, 2000);
      return;
    }
    const live = calls.filter((c) => !c.ended);
    if (live.length === 1) {
      history.replaceState(null, "", VM.withToken("/", { call: live[0].call_id }));
      notice("");
      start(live[0].call_id);
      return;
    }
    setConn("connecting", "waiting for a call");
    const box = $("notice");
    box.textContent = live.length ? "Several calls are live; pick one: " : "Waiting for a call to start…";
    for (const c of live) {
      const a = document.createElement("a");
      a.href = VM.withToken("/", { call: c.call_id });
      a.textContent = c.call_id;
      box.append(a, " ");
    }
    setTimeout(pickCall, 2000);
  }

  document.addEventListener("keydown", (ev) => {
    if (!state.shownPrompt || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const tag = (ev.target && ev.target.tagName) || "";
    if (tag === "BUTTON" && (ev.key === "Enter" || ev.key === " ")) return; /* the button's own click */
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); act("acknowledged"); }
    else if (ev.key === "Escape") { ev.preventDefault(); act("dismissed"); }
  });
  $("prompt-ack").addEventListener("click", () => act("acknowledged"));
  $("prompt-dismiss").addEventListener("click", () => act("dismissed"));
  $("wall-link").href = VM.withToken("/wall");

  if (state.callId) start(state.callId); else pickCall();
})();
