// The live store: one server-sent event stream feeds every row the lists show.
// The server sends a snapshot first, then each change; on a broken stream the
// browser reconnects and the next snapshot replaces everything.

const views = { apps: new Map(), sources: new Map(), images: new Map() };
let unavailable = {};
let served = [];
let loaded = false;
const listeners = new Set();
let source = null;
let retry = 1000;

export const store = {
  get loaded() { return loaded; },
  rows(view) { return [...views[view].values()]; },
  get(view, kind, namespace, name) { return views[view].get(`${kind}/${namespace}/${name}`); },
  get unavailable() { return unavailable; },
  get served() { return served; },
  subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); },
};

function emit(change) { for (const fn of listeners) fn(change); }

function setLive(on, text) {
  const el = document.getElementById("live");
  if (!el) return;
  el.classList.toggle("on", on);
  el.classList.toggle("off", !on);
  el.querySelector(".live-text").textContent = text;
  el.title = on ? "Live: changes appear as they happen" : "Disconnected: reconnecting";
}

export function connect() {
  if (source) source.close();
  source = new EventSource("/api/stream");
  source.addEventListener("snapshot", (ev) => {
    const data = JSON.parse(ev.data);
    for (const [view, rows] of Object.entries(data.views)) {
      views[view] = new Map(rows.map((r) => [`${r.kind}/${r.namespace}/${r.name}`, r]));
    }
    unavailable = data.unavailable || {};
    served = data.served || [];
    loaded = true;
    retry = 1000;
    setLive(true, "live");
    emit({ op: "snapshot" });
  });
  source.addEventListener("change", (ev) => {
    const change = JSON.parse(ev.data);
    const map = views[change.view];
    if (change.op === "delete") {
      map.delete(`${change.kind}/${change.namespace}/${change.name}`);
    } else {
      const r = change.row;
      map.set(`${r.kind}/${r.namespace}/${r.name}`, r);
    }
    emit(change);
  });
  source.onerror = () => {
    if (!source) return;
    setLive(false, "reconnecting");
    // EventSource retries by itself while the server is reachable; after a
    // hard failure (e.g. 401) it stops, so start over with a backoff.
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(reconnect, retry);
      retry = Math.min(retry * 2, 15000);
    }
  };
}

// After a restart of the dashboard the session may be gone: log in again
// (OIDC) or say which link to open (local), instead of retrying forever.
async function reconnect() {
  const answer = await fetch("/api/session", { credentials: "same-origin" }).catch(() => null);
  if (answer && answer.status === 401) {
    setLive(false, "logged out");
    const view = document.getElementById("view");
    view.innerHTML = '<div class="notice warn">This session ended (the dashboard restarted or the session expired). <a href="/auth/login">Log in again</a>, or open the new link <code>eddy dashboard</code> printed.</div>';
    return;
  }
  connect();
}

// A browser opens at most six connections to one host over HTTP/1.1, and each
// open stream holds one: pages in the background or being left let theirs go,
// and take a fresh snapshot when they are shown again.
function pause() {
  if (source) { source.close(); source = null; }
  setLive(false, "paused");
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) pause();
  else if (!source) connect();
});
window.addEventListener("pagehide", pause);
window.addEventListener("pageshow", (ev) => { if (ev.persisted && !source) connect(); });
