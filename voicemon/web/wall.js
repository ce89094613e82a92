/* voicemon supervisor wall: every call as a tile, most escalated first; click opens its view. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  const LEVEL_RANK = { calm: 0, tense: 1, heated: 2, critical: 3 };
  let failures = 0;

  function callerReading(call) {
    const r = call.readings || {};
    return r.customer || r.mixed || r[call.roles[0]] || null;
  }

  function tile(call) {
    const reading = callerReading(call);
    const level = reading ? reading.level : "calm";
    const a = document.createElement("a");
    a.className = `tile level-${level}${call.ended ? " ended" : ""}`;
    a.href = VM.withToken("/", { call: call.call_id });
    a.dataset.callId = call.call_id;
    a.dataset.level = level;
    const id = document.createElement("div");
    id.className = "id";
    id.textContent = call.call_id;
    const lv = document.createElement("div");
    lv.className = "level";
    lv.textContent = call.ended ? `${level} · ended` : level;
    const meta = document.createElement("div");
    meta.className = "meta";
    const dur = document.createElement("span");
    dur.textContent = VM.clock(call.media_s);
    const score = document.createElement("span");
    score.textContent = reading ? `${Math.round(reading.score)} / 100` : "–";
    meta.append(dur, score);
    const last = document.createElement("div");
    last.className = "last";
    last.textContent = call.last_prompt ? `Last prompt: ${call.last_prompt.text}` : "No prompt yet";
    a.append(id, lv, meta, last);
    return a;
  }

  function sortKey(call) {
    const r = callerReading(call);
    return [call.ended ? 1 : 0, -(r ? LEVEL_RANK[r.level] : 0), -(r ? r.score : 0), call.call_id];
  }

  function compare(a, b) {
    const ka = sortKey(a), kb = sortKey(b);
    for (let i = 0; i < ka.length; i++) {
      if (ka[i] < kb[i]) return -1;
      if (ka[i] > kb[i]) return 1;
    }
    return 0;
  }

  async function poll() {
    try {
      const calls = (await VM.listCalls()).sort(compare);
      failures = 0;
      $("conn").className = "conn live";
      $("conn").textContent = "live";
      const box = $("tiles");
      box.textContent = "";
      calls.forEach((c) => box.appendChild(tile(c)));
      const live = calls.filter((c) => !c.ended).length;
      $("count").textContent = `${live} live call${live === 1 ? "" : "s"}`;
      $("notice").textContent = calls.length ? "" : "No calls right now.";
    } catch (e) {
      failures += 1;
      $("conn").className = "conn reconnecting";
      $("conn").textContent = "reconnecting…";
      $("notice").textContent = `Cannot reach voicemon (${e.message}).`;
    }
    setTimeout(poll, Math.min(POLL_MS * 2 ** failures, 5000));
  }

  poll();
})();
