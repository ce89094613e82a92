/* voicemon agent view: one call's meters, the current coaching prompt and the transcript.
 *   /?call=ID                  that call
 *   /?agent=ID                 that agent's calls, one after another (others are ignored)
 *   /?call=ID&view=supervisor  read-only: no Done/Dismiss, and the server refuses its acks
 *   /                          the only live call (or a list to pick from)
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_LINES = 40;
  const TREND_STEADY_PTS_PER_S = 0.5; /* = voicemon.events.TREND_STEADY_PTS_PER_S (a test checks) */
  const AGENT_POLL_MS = 2000;
  const PRIORITY_CLASSES = [[80, "urgent"], [60, "important"], [0, "tip"]];

  const supervisor = VM.params.get("view") === "supervisor";
  const agentId = VM.params.get("agent");
  const baseTitle = document.title;

  const state = {
    callId: VM.params.get("call"),
    startedWall: null,
    roles: [],
    mediaS: 0,
    epoch: 0, /* bumps when the server restarted and the call was opened again */
    lines: new Map(), /* key -> {role, start, text, final, marks: [{evidence, calming}]} */
    order: [],
    prompts: new Map(), /* id -> prompt envelope */
    handled: new Set(), /* prompt ids acknowledged or dismissed */
    pendingAcks: [],
    shownPrompt: null,
    ended: false,
    callAgent: null, /* the call's agent_id (from call_started) */
    levels: {},
    feed: null,
  };
  const soundOn = VM.option($("opt-sound"), "voicemon.sound");
  const notifyOn = VM.option($("opt-notify"), "voicemon.notify", (on) => {
    if (on && window.Notification && Notification.permission === "default") Notification.requestPermission();
  });

  /* ---------- page states ---------- */

  function setConn(kind, detail) {
    const el = $("conn");
    el.className = `conn ${kind}`;
    el.textContent = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", ended: "call ended",
      waiting: "no call", unknown: "unknown call", expired: "call over", unauthorized: "wrong token" }[kind] || kind;
    el.title = detail || "";
  }

  /* The page's state: connecting | live | reconnecting | ended | waiting | unknown | expired | unauthorized. */
  function setState(kind, title, text, reportUrl) {
    document.body.dataset.state = kind;
    setConn(kind, text);
    const panel = $("state-panel");
    panel.hidden = !title;
    $("state-title").textContent = title || "";
    $("state-text").textContent = text || "";
    const link = $("state-report");
    link.hidden = !reportUrl;
    if (reportUrl) link.href = VM.withToken(reportUrl);
    if (kind !== "live" && kind !== "reconnecting" && kind !== "connecting") {
      state.prompts.clear();
      renderPrompt();
    }
  }

  function notice(text) { $("notice").textContent = text || ""; }

  function announce(text) { $("announce").textContent = text; }

  // the browser's copy of voicemon.events.caller_role (customer, else mixed, else the first role)
  function callerRole() { return state.roles.includes("customer") ? "customer" : (state.roles[0] || "customer"); }

  function setupRoles(roles) {
    state.roles = roles;
    const mixed = roles.length === 1;
    $("caller-label").textContent = mixed ? "Both voices (one channel)" : "Customer";
    $("meter-caller").dataset.role = callerRole();
    $("meter-agent").hidden = mixed || !roles.includes("agent");
  }

  /* Read-only: a supervisor's view, or a call of another agent (the server refuses such acks too). */
  function readOnly() { return supervisor || (!!state.callAgent && state.callAgent !== agentId); }

  function applyReadOnly() {
    const ro = readOnly();
    document.body.classList.toggle("read-only", ro);
    $("prompt-ack").hidden = ro;
    $("prompt-dismiss").hidden = ro;
    $("prompt-keys").textContent = ro ? "read-only: the call's agent acts on prompts" : "card focused: Enter = done · Esc = dismiss";
    const badge = $("view-badge");
    badge.hidden = !ro;
    badge.textContent = supervisor ? "supervisor view · read-only" : `read-only · ${state.callAgent}'s call`;
    if (!supervisor && ro) badge.title = `open /?agent=${state.callAgent} to act on its prompts`;
  }

  function showMeta(env) {
    const bits = [env.agent_name || env.agent_id, env.queue, env.customer_ref && `ref ${env.customer_ref}`].filter(Boolean);
    $("call-meta").textContent = bits.join(" · ");
  }

  /* ---------- meters ---------- */

  function trendWord(trend) {
    if (trend > TREND_STEADY_PTS_PER_S) return ["↑", "rising"];
    if (trend < -TREND_STEADY_PTS_PER_S) return ["↓", "falling"];
    return ["→", "steady"];
  }

  function showReading(env) {
    const which = env.role === "agent" && state.roles.includes("customer") ? "agent" : env.role === callerRole() ? "caller" : null;
    if (!which) return;
    const meter = $(`meter-${which}`);
    meter.className = `meter${which === "agent" ? " small" : ""} level-${env.level}`;
    meter.dataset.level = env.level;
    meter.dataset.score = String(env.score);
    meter.dataset.trend = String(env.trend || 0);
    $(`${which}-level`).textContent = env.level;
    $(`${which}-score`).textContent = `${Math.round(env.score)} / 100`;
    $(`${which}-bar`).style.width = `${Math.max(0, Math.min(100, env.score))}%`;
    const [arrow, word] = trendWord(env.trend || 0);
    const t = $(`${which}-trend`);
    t.textContent = arrow;
    const small = document.createElement("small");
    small.textContent = word;
    t.appendChild(small);
    meter.setAttribute("aria-valuenow", String(Math.round(env.score)));
    meter.setAttribute("aria-valuetext", `${env.level}, ${Math.round(env.score)} of 100, ${word}`);
    if (state.levels[which] !== env.level) {
      if (state.levels[which] !== undefined) {
        announce(`${which === "agent" ? "Your voice" : $("caller-label").textContent}: ${env.level}`);
      }
      state.levels[which] = env.level;
    }
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

  function resetMeters() {
    for (const which of ["caller", "agent"]) {
      const meter = $(`meter-${which}`);
      meter.className = `meter${which === "agent" ? " small" : ""} level-calm`;
      delete meter.dataset.level;
      $(`${which}-level`).textContent = "–";
      $(`${which}-score`).textContent = "–";
      $(`${which}-bar`).style.width = "0%";
      $(`${which}-why`).textContent = "";
      meter.setAttribute("aria-valuenow", "0");
      meter.setAttribute("aria-valuetext", "no reading yet");
    }
    state.levels = {};
  }

  /* ---------- prompts ---------- */

  function activePrompts() {
    if (state.ended) return [];
    return [...state.prompts.values()]
      .filter((p) => !state.handled.has(p.id) && p.expires_at > state.mediaS)
      .sort((a, b) => (b.priority - a.priority) || (b.t - a.t));
  }

  function priorityClass(priority) {
    return PRIORITY_CLASSES.find(([min]) => priority >= min)[1];
  }

  function renderPrompt() {
    const live = activePrompts();
    const card = $("prompt");
    const top = live[0];
    $("prompt-none").hidden = !!top;
    if (!top) {
      card.hidden = true;
      card.dataset.promptId = "";
      state.shownPrompt = null;
      document.title = state.callId ? `voicemon — ${state.callId}` : baseTitle;
      return;
    }
    if (state.shownPrompt !== top.id) {
      state.shownPrompt = top.id;
      card.dataset.promptId = top.id;
      card.dataset.kind = top.kind;
      const prio = priorityClass(top.priority);
      card.className = `prompt prio-${prio}`;
      $("prompt-prio").textContent = prio;
      $("prompt-technique").textContent = top.technique;
      $("prompt-text").textContent = top.text;
      $("prompt-reason").textContent = top.reason;
      document.title = `(!) ${top.text} — voicemon`;
      if (!readOnly()) alertAgent(top);
    }
    $("prompt-more").textContent = live.length > 1 ? `+${live.length - 1} more` : "";
    card.hidden = false;
  }

  /* The optional chime and browser notification of a new prompt (off by default). */
  function alertAgent(prompt) {
    if (soundOn()) VM.chime(prompt.priority >= 80 ? 988 : 784);
    if (notifyOn() && window.Notification && Notification.permission === "granted" && document.hidden) {
      try { new Notification(`voicemon: ${prompt.text}`, { body: prompt.reason, tag: "voicemon-prompt" }); } catch (e) { /* unsupported */ }
    }
  }

  function act(action) {
    const id = state.shownPrompt;
    if (!id || readOnly()) return;
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
      mark.className = calming ? "calming" : "escalating";
      mark.title = calming ? "calming words" : "escalating words";
      mark.textContent = text.slice(lo, hi);
      container.appendChild(mark);
      pos = hi;
    }
    container.appendChild(document.createTextNode(text.slice(pos)));
  }

  const WHO = { agent: "You", customer: "Customer", mixed: "Speaker" };

  /* Newest line first, right under the prompt card: the words that triggered a prompt are on screen. */
  function renderLines() {
    const box = $("lines");
    box.textContent = "";
    const keys = state.order.slice(-MAX_LINES).reverse();
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
      who.textContent = WHO[line.role] || line.role;
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = VM.clock(line.start);
      const text = document.createElement("span");
      text.className = "text";
      markedText(text, line.text, line.marks);
      if (!line.final) text.title = "tentative: may still change";
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

  function showEnded(summary) {
    state.ended = true;
    state.prompts.clear();
    renderPrompt();
    const s = summary || {};
    const peak = s.peak_level ? `Caller's peak: ${s.peak_level} (${Math.round(s.peak_score || 0)} / 100).` : "";
    const prompts = typeof s.prompts_fired === "number" ? ` ${s.prompts_fired} prompt${s.prompts_fired === 1 ? "" : "s"}.` : "";
    const next = agentId ? " Waiting for your next call…" : "";
    const why = s.reason === "server shutting down" ? " (voicemon was stopped)" : "";
    setState("ended", `Call ended after ${VM.clock(s.duration_s !== undefined ? s.duration_s : state.mediaS)}${why}`,
      `${peak}${prompts}${next}`, s.report_url || null);
    notice("");
  }

  function onEvent(env) {
    if (typeof env.t === "number") state.mediaS = Math.max(state.mediaS, env.t);
    switch (env.type) {
      case "call_started": setupRoles(env.roles); showMeta(env); state.callAgent = env.agent_id || null; applyReadOnly(); break;
      case "reading": showReading(env); break;
      case "transcript": showTranscript(env); break;
      case "cue": showCue(env); break;
      case "prompt": state.prompts.set(env.id, env); break;
      case "prompt_ack": state.handled.add(env.prompt_id); break;
      case "asr_status": notice(env.state === "ok" ? "" : `Transcript delayed: ${env.message}`); break;
      case "speakers":  // one-channel call: one meter until two voices are told apart, then agent/customer
        setupRoles(env.roles);
        notice(env.state === "split" ? "Voices told apart: Customer and Agent meters from here on." : "");
        if (env.state === "mixed") $("caller-label").textContent = "Both voices (one meter until they are told apart)";
        break;
      case "call_ended": showEnded(env.summary); break;
      default: break;
    }
    renderPrompt();
  }

  function resetCall() {
    if (state.feed) state.feed.stop();
    state.feed = null;
    Object.assign(state, { startedWall: null, roles: [], mediaS: 0, epoch: 0, lines: new Map(), order: [],
      prompts: new Map(), handled: new Set(), pendingAcks: [], shownPrompt: null, ended: false, callAgent: null });
    applyReadOnly();
    resetMeters();
    renderLines();
    renderPrompt();
    $("call-meta").textContent = "";
  }

  function start(callId, startedWall) {
    resetCall();
    state.callId = callId;
    state.startedWall = startedWall === undefined ? null : startedWall;
    $("call-id").textContent = `call ${callId}`;
    document.title = `voicemon — ${callId}`;
    state.feed = VM.follow(callId, {
      onEvent,
      onState(kind, detail) {
        if (kind === "ended") return; /* showEnded did it, with the summary */
        if (kind === "live") {
          setState("live");
          flushAcks();
          return;
        }
        document.body.dataset.state = kind === "connecting" ? "connecting" : "reconnecting";
        setConn(kind, detail);
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
      onError(message, err) {
        if (err && ["read_only", "not_your_call", "unknown_call"].includes(err.code) && err.prompt_id) {
          state.handled.delete(err.prompt_id); /* the server refused it: show the prompt again */
          renderPrompt();
          notice(`Not sent: ${message}`);
        } else notice(message);
      },
      onUnknown() {
        setState("unknown", `No call “${callId}” (yet)`,
          "voicemon has no call with this id. The page follows it if it starts; check the link otherwise.");
      },
      onExpired(entry) {
        const s = entry.summary || {};
        setState("expired", `Call “${callId}” is over`,
          `It ended ${entry.ended_wall ? new Date(entry.ended_wall * 1000).toLocaleString() : "a while ago"}` +
          (s.peak_level ? `; caller's peak: ${s.peak_level} (${Math.round(s.peak_score || 0)} / 100).` : "."),
          entry.report_url);
      },
      onUnauthorized: unauthorized,
    }, { role: supervisor ? "supervisor" : "agent", agentId });
  }

  function unauthorized(message) {
    setState("unauthorized", "Wrong or missing token",
      `voicemon refused this page (${message}). Open it with the link the server printed (…?token=…).`);
  }

  /* /?agent=ID: follow this agent's newest live call; when it ends, wait for the next one. */
  async function followAgent() {
    let calls;
    try {
      calls = await VM.listCalls({ agent: agentId });
    } catch (e) {
      if (e.status === 401) { unauthorized(e.message); return; }
      if (!state.feed) { setState("reconnecting"); notice(`Cannot reach voicemon (${e.message}); retrying…`); }
      setTimeout(followAgent, AGENT_POLL_MS);
      return;
    }
    const live = calls.filter((c) => !c.ended).sort((a, b) => b.started_wall - a.started_wall);
    const next = live[0];
    if (next && (next.call_id !== state.callId || next.started_wall !== state.startedWall)) {
      notice("");
      start(next.call_id, next.started_wall);
    } else if (!next && !state.feed) {
      setState("waiting", `Waiting for ${agentId}'s next call…`, "This page follows your calls one after another.");
    }
    setTimeout(followAgent, AGENT_POLL_MS);
  }

  /* Without ?call= or ?agent=, follow the only live call (or ask which one). */
  async function pickCall() {
    let calls;
    try {
      calls = await VM.listCalls();
    } catch (e) {
      if (e.status === 401) { unauthorized(e.message); return; }
      setState("reconnecting");
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
    setState("waiting", live.length ? "Several calls are live" : "No live call",
      live.length ? "Pick one:" : "Waiting for a call to start…");
    const box = $("state-text");
    for (const c of live) {
      const a = document.createElement("a");
      a.href = VM.withToken("/", { call: c.call_id });
      a.textContent = c.agent_name ? `${c.call_id} (${c.agent_name})` : c.call_id;
      box.append(" ", a);
    }
    setTimeout(pickCall, 2000);
  }

  /* Keys only while the card has focus (Tab to it): Enter = Done, Escape = Dismiss. Never Space. */
  $("prompt").addEventListener("keydown", (ev) => {
    if (!state.shownPrompt || readOnly() || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key === "Escape") { ev.preventDefault(); act("dismissed"); return; }
    if (ev.key === "Enter" && ev.target === $("prompt")) { ev.preventDefault(); act("acknowledged"); }
  });
  $("prompt-ack").addEventListener("click", () => act("acknowledged"));
  $("prompt-dismiss").addEventListener("click", () => act("dismissed"));
  $("wall-link").href = VM.withToken("/wall");
  if (supervisor) document.body.classList.add("supervisor");
  applyReadOnly();
  renderPrompt();
  if (state.callId) start(state.callId);
  else if (agentId) followAgent();
  else pickCall();
})();
