/* voicemon feed helpers shared by the agent view and the wall: URLs with the token, the calls
 * list, and a reconnecting /watch subscription that resumes from the last seq. */
"use strict";

const VM = (() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");

  function withToken(path, extra) {
    const q = new URLSearchParams(extra || {});
    if (token) q.set("token", token);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  }

  function wsUrl(path) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}${withToken(path)}`;
  }

  /** An error of the HTTP API; ``status`` 401 means a wrong or missing token (do not retry). */
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  /** GET /api/calls (``query``: e.g. {ended: 1}, {agent: "A"}). Throws ApiError. */
  async function listCalls(query) {
    let res;
    try {
      res = await fetch(withToken("/api/calls", query), { cache: "no-store" });
    } catch (e) {
      throw new ApiError(0, "server unreachable");
    }
    if (!res.ok) {
      let msg = `${res.status}`;
      try { msg = (await res.json()).message || msg; } catch (e) { /* not JSON */ }
      throw new ApiError(res.status, msg);
    }
    return (await res.json()).calls;
  }

  /**
   * Follow one call over /watch. Reconnects by itself with a growing delay and resumes from the
   * last seq it saw, so no event is shown twice or missed. When the call the server has under
   * this id is a different one (the server restarted and the call was opened again), it joins
   * from the start and calls onRestart first.
   * Options: role ("agent" | "supervisor"), agentId.
   * Handlers: onEvent(env), onState(state: "connecting"|"live"|"reconnecting"|"ended", detail),
   * onRestart(), onError(message), onUnknown() (no such call, yet: keeps looking),
   * onExpired(entry) (the call ended long ago: entry from /api/calls?ended=1; stops),
   * onUnauthorized(message) (wrong token: stops).
   */
  function follow(callId, handlers, options) {
    const opts = options || {};
    let ws = null;
    let lastSeq = 0;
    let startedWall = null;
    let delayMs = 500;
    let stopped = false;
    let ended = false;
    let timer = null;

    function schedule(why, state) {
      if (stopped || ended) return;
      if (state !== null) handlers.onState(state || "reconnecting", why);
      clearTimeout(timer);
      timer = setTimeout(connect, delayMs);
      delayMs = Math.min(delayMs * 2, 5000);
    }

    function unauthorized(message) {
      stopped = true;
      clearTimeout(timer);
      if (handlers.onUnauthorized) handlers.onUnauthorized(message);
    }

    async function connect() {
      if (stopped) return;
      let calls;
      try {
        calls = await listCalls();
      } catch (e) {
        if (e.status === 401) { unauthorized(e.message); return; }
        schedule("server unreachable");
        return;
      }
      const info = calls.find((c) => c.call_id === callId);
      if (!info) {
        if (lastSeq === 0) { /* never seen: ended long ago, or not started yet */
          let old = [];
          try { old = await listCalls({ ended: 1, limit: 500 }); } catch (e) { /* retried below */ }
          const gone = old.find((c) => c.call_id === callId);
          if (gone) {
            stopped = true;
            if (handlers.onExpired) handlers.onExpired(gone);
            return;
          }
          if (handlers.onUnknown) handlers.onUnknown();
          delayMs = 2000;
          schedule("waiting for the call", null);
          return;
        }
        schedule("waiting for the call");
        return;
      }
      const sub = { type: "subscribe", v: 1, calls: [callId], role: opts.role || "agent" };
      if (opts.agentId) sub.agent_id = opts.agentId;
      if (startedWall !== null && info.started_wall !== startedWall) {
        lastSeq = 0;
        handlers.onRestart();
      }
      startedWall = info.started_wall;
      if (lastSeq > 0) sub.since = { [callId]: lastSeq };
      let socket;
      try {
        socket = new WebSocket(wsUrl("/watch"));
      } catch (e) {
        schedule("cannot open the feed");
        return;
      }
      ws = socket;
      socket.onopen = () => socket.send(JSON.stringify(sub));
      socket.onmessage = (msg) => {
        let env;
        try { env = JSON.parse(msg.data); } catch (e) { return; }
        if (env.type === "subscribed") {
          delayMs = 500;
          handlers.onState("live", "", info);
          return;
        }
        if (env.type === "error" && env.seq === undefined) {
          handlers.onError(env.message || env.code, env);
          return;
        }
        if (env.call_id !== callId || typeof env.seq !== "number") return;
        if (env.seq <= lastSeq) return; /* already shown */
        lastSeq = env.seq;
        handlers.onEvent(env);
        if (env.type === "call_ended") {
          ended = true;
          handlers.onState("ended");
        }
      };
      socket.onclose = (ev) => {
        if (ws === socket) ws = null;
        if (ev.code === 4401) { unauthorized("wrong token"); return; }
        schedule("connection lost");
      };
    }

    function send(obj) {
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify(obj));
        return true;
      }
      return false;
    }

    handlers.onState("connecting");
    connect();
    return {
      send,
      stop() { stopped = true; clearTimeout(timer); if (ws) { const s = ws; ws = null; s.onclose = null; s.close(); } },
    };
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? `${h}:` : "") + `${mm}:${String(r).padStart(2, "0")}`;
  }

  /** A short beep (Web Audio; no file), for the optional chime. */
  function chime(freqHz) {
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      const ctx = chime.ctx || (chime.ctx = new Ctx());
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freqHz || 880;
      gain.gain.setValueAtTime(0.15, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.25);
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.25);
    } catch (e) { /* no audio output: the chime is optional */ }
  }

  /** A checkbox whose state is kept in localStorage under ``key``. */
  function option(el, key, onChange) {
    if (!el) return () => false;
    try { el.checked = localStorage.getItem(key) === "1"; } catch (e) { /* storage blocked */ }
    el.addEventListener("change", () => {
      try { localStorage.setItem(key, el.checked ? "1" : "0"); } catch (e) { /* storage blocked */ }
      if (onChange) onChange(el.checked);
    });
    return () => el.checked;
  }

  return { params, token, withToken, wsUrl, listCalls, follow, clock, chime, option, ApiError };
})();
