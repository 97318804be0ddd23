// The cluster at a glance: counts by state, failing first, and controller health.
import { api } from "./main.js";
import { store } from "./store.js";
import { STATES, badge, esc, html, link, raw } from "./util.js";

export function overviewView(view) {
  view.innerHTML = `<div class="page-head"><h1>Cluster</h1><span class="sub">Everything eddy manages, worst first</span></div>
    <div id="tiles"></div><div id="failing"></div><div id="controllers"></div>`;
  let frame = 0, disposed = false;
  const draw = () => {
    frame = 0;
    if (!store.loaded) return;
    const all = [...store.rows("apps"), ...store.rows("sources"), ...store.rows("images")];
    const apps = store.rows("apps");
    const count = (rows, s) => rows.filter((r) => r.state === s).length;
    const tile = (k, v, cls) => `<div class="tile ${cls}"><div class="k">${esc(k)}</div><div class="v">${v}</div></div>`;
    view.querySelector("#tiles").innerHTML = `<div class="tiles">` +
      tile("Applications", apps.length, "") +
      tile("Ready", count(apps, "Ready"), "ok") +
      tile("Failing", count(apps, "Failed") + count(apps, "Stalled"), count(apps, "Failed") + count(apps, "Stalled") ? "bad" : "") +
      tile("Reconciling", count(apps, "Reconciling"), "run") +
      tile("Suspended", count(apps, "Suspended"), "off") +
      tile("Sources", store.rows("sources").length, "") +
      tile("Image objects", store.rows("images").length, "") + `</div>`;
    const bad = all.filter((r) => ["Failed", "Stalled", "Waiting", "Unknown"].includes(r.state))
      .sort((a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state));
    view.querySelector("#failing").innerHTML = html`<div class="panel"><h2>Needs attention <span class="muted">${String(bad.length)}</span></h2>
      <table class="grid" id="attention"><thead><tr><th>Status</th><th>Object</th><th>Namespace</th><th>Reason</th><th>Message</th></tr></thead><tbody>
      ${bad.length ? bad.slice(0, 200).map((r) => html`<tr><td>${badge(r.state)}</td><td class="name">${link(r.kind, r.namespace, r.name)}<span class="kind">${r.kind}</span></td><td>${r.namespace}</td><td>${r.reason}</td><td class="msg" title="${r.message}">${r.message}</td></tr>`) : raw('<tr><td colspan="5" class="muted">Nothing is failing.</td></tr>')}
      </tbody></table></div>`.text;
  };
  async function controllers() {
    try {
      const data = await api("/api/controllers");
      if (disposed) return;
      const rows = data.controllers || [];
      view.querySelector("#controllers").innerHTML = html`<div class="panel"><h2>Controllers</h2>
        <table class="grid" id="controllers-table"><thead><tr><th>Health</th><th>Controller</th><th>Namespace</th><th>Ready replicas</th><th>/readyz</th></tr></thead><tbody>
        ${rows.length ? rows.map((c) => html`<tr><td>${badge(c.state)}</td><td><b>${c.name}</b></td><td>${c.namespace}</td><td>${c.replicas}</td><td class="mono">${c.readyz || "—"}</td></tr>`) : raw(`<tr><td colspan="5" class="muted">${esc(data.message || "No eddy controller Deployment found.")}</td></tr>`)}
        </tbody></table></div>`.text;
    } catch (err) {
      if (!disposed) view.querySelector("#controllers").innerHTML = `<div class="notice warn">Controller health: ${esc(err.message)}</div>`;
    }
  }
  const stop = store.subscribe(() => { if (!frame) frame = requestAnimationFrame(draw); });
  draw();
  controllers();
  const poll = setInterval(controllers, 10000);
  return { dispose() { disposed = true; stop(); clearInterval(poll); if (frame) cancelAnimationFrame(frame); } };
}
