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

  async function listCalls() {
    const res = await fetch(withToken("/api/calls"), { cache: "no-store" });
    if (!res.ok) {
      let msg = `${res.status}`;
      try { msg = (await res.json()).message || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return (await res.json()).calls;
  }

  /**
   * Follow one call over /watch. Reconnects by itself with a growing delay and resumes from the
   * last seq it saw, so no event is shown twice or missed. When the call the server has under
   * this id is a different one (the server restarted and the call was opened again), it joins
   * from the start and calls onRestart first.
   * Handlers: onEvent(env), onState(state: "connecting"|"live"|"reconnecting"|"ended", detail),
   * onRestart(), onError(message).
   */
  function follow(callId, handlers) {
    let ws = null;
    let lastSeq = 0;
    let startedWall = null;
    let delayMs = 500;
    let stopped = false;
    let ended = false;
    let timer = null;

    function schedule(why) {
      if (stopped || ended) return;
      handlers.onState("reconnecting", why);
      clearTimeout(timer);
      timer = setTimeout(connect, delayMs);
      delayMs = Math.min(delayMs * 2, 5000);
    }

    async function connect() {
      if (stopped) return;
      let calls;
      try {
        calls = await listCalls();
      } catch (e) {
        schedule("server unreachable");
        return;
      }
      const info = calls.find((c) => c.call_id === callId);
      if (!info) {
        schedule("waiting for the call");
        return;
      }
      const sub = { type: "subscribe", v: 1, calls: [callId] };
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
          handlers.onState("live");
          return;
        }
        if (env.type === "error" && env.seq === undefined) {
          handlers.onError(env.message || env.code);
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
      socket.onclose = () => {
        if (ws === socket) ws = null;
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
    return { send, stop() { stopped = true; clearTimeout(timer); if (ws) ws.close(); } };
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? `${h}:` : "") + `${mm}:${String(r).padStart(2, "0")}`;
  }

  return { params, token, withToken, wsUrl, listCalls, follow, clock };
})();
