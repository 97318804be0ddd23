// Applications: every Kustomization and HelmRelease, failing first, filterable.
import { store } from "./store.js";
import { navigate } from "./main.js";
import { STATES, STATE_RANK, badge, esc, html, key, link, raw, revision, when } from "./util.js";

function filtersFrom(search) {
  const q = new URLSearchParams(search);
  return { text: q.get("q") || "", namespace: q.get("namespace") || "", state: q.get("state") || "", kind: q.get("kind") || "" };
}

function matches(r, f) {
  if (f.namespace && r.namespace !== f.namespace) return false;
  if (f.state && r.state !== f.state) return false;
  if (f.kind && r.kind !== f.kind) return false;
  if (f.text) {
    const hay = `${r.name} ${r.namespace} ${r.kind} ${r.source ? r.source.name : ""} ${r.revision} ${r.message}`.toLowerCase();
    if (!f.text.toLowerCase().split(/\s+/).every((w) => hay.includes(w))) return false;
  }
  return true;
}

function sourceCell(r) {
  if (!r.source) return raw('<span class="muted">—</span>');
  return html`${link(r.source.kind, r.source.namespace, r.source.name)}<span class="kind">${r.source.kind}</span>`;
}

function rowHtml(r) {
  return `<tr data-key="${esc(key(r))}" data-state="${esc(r.state)}">` +
    html`<td>${badge(r.state)}</td>
<td class="name">${link(r.kind, r.namespace, r.name)}<span class="kind">${r.kind}</span></td>
<td>${r.namespace}</td>
<td class="nowrap">${sourceCell(r)}</td>
<td>${revision(r.revision)}</td>
<td class="nowrap">${when(r.lastApplied)}</td>
<td class="health" title="${r.healthMessage || ""}">${r.health ? badge(r.health) : raw('<span class="muted">—</span>')}</td>
<td class="msg" title="${r.message}">${r.message}</td>`.text + "</tr>";
}

export function appsView(view) {
  const f = filtersFrom(location.search);
  view.innerHTML = `
    <div class="page-head"><h1>Applications</h1><span class="sub">Kustomizations and HelmReleases</span></div>
    <div class="toolbar">
      <input type="search" id="q" placeholder="Filter: name, source, revision…" aria-label="Filter applications">
      <select id="ns" aria-label="Namespace"><option value="">All namespaces</option></select>
      <select id="kind" aria-label="Kind"><option value="">All kinds</option><option>Kustomization</option><option>HelmRelease</option></select>
      <div class="chips" id="chips" role="group" aria-label="Status"></div>
      <span class="count" id="count"></span>
    </div>
    <div id="unavailable"></div>
    <div class="panel"><table class="grid" id="apps">
      <thead><tr><th>Status</th><th>Name</th><th>Namespace</th><th>Source</th><th>Revision</th><th>Last applied</th><th>Health</th><th>Message</th></tr></thead>
      <tbody></tbody></table><p class="empty pad" id="empty" hidden></p></div>`;
  const q = view.querySelector("#q"), ns = view.querySelector("#ns"), kind = view.querySelector("#kind");
  q.value = f.text; kind.value = f.kind;
  let frame = 0;

  function sync() {
    const params = new URLSearchParams();
    if (f.text) params.set("q", f.text);
    if (f.namespace) params.set("namespace", f.namespace);
    if (f.state) params.set("state", f.state);
    if (f.kind) params.set("kind", f.kind);
    const url = `/apps${params.toString() ? "?" + params : ""}`;
    if (url !== location.pathname + location.search) history.replaceState(null, "", url);
  }

  function draw() {
    frame = 0;
    const all = store.rows("apps");
    const namespaces = [...new Set(all.map((r) => r.namespace))].sort();
    if (ns.options.length - 1 !== namespaces.length) {
      ns.innerHTML = '<option value="">All namespaces</option>' + namespaces.map((n) => `<option>${esc(n)}</option>`).join("");
    }
    ns.value = f.namespace;
    const scoped = all.filter((r) => matches(r, { ...f, state: "" }));
    const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
    for (const r of scoped) counts[r.state] = (counts[r.state] || 0) + 1;
    view.querySelector("#chips").innerHTML = [["", "All", scoped.length], ...STATES.filter((s) => counts[s] || f.state === s).map((s) => [s, s, counts[s]])]
      .map(([s, label, n]) => `<button type="button" class="chip" data-state="${s}" aria-pressed="${f.state === s}">${esc(label)} <span class="n">${n}</span></button>`).join("");
    const rows = scoped.filter((r) => !f.state || r.state === f.state)
      .sort((a, b) => (STATE_RANK[a.state] - STATE_RANK[b.state]) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    view.querySelector("#apps tbody").innerHTML = rows.map(rowHtml).join("");
    view.querySelector("#count").textContent = `${rows.length} of ${all.length}`;
    const empty = view.querySelector("#empty");
    empty.hidden = rows.length > 0 || !store.loaded;
    empty.textContent = all.length ? "No application matches these filters." : "No applications yet, or none you may see. Create a Kustomization or a HelmRelease and it appears here.";
    const missing = Object.entries(store.unavailable).filter(([k]) => k === "Kustomization" || k === "HelmRelease");
    view.querySelector("#unavailable").innerHTML = missing.map(([k, why]) => `<div class="notice warn">${esc(k)}: ${esc(why)}</div>`).join("");
    if (store.loaded) {
      view.querySelector("#apps").dataset.rendered = String(rows.length);
      if (window.eddyFirstRender === undefined) window.eddyFirstRender = performance.now();
    }
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };

  let typing = 0;
  q.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { f.text = q.value.trim(); sync(); schedule(); }, 120); });
  ns.addEventListener("change", () => { f.namespace = ns.value; sync(); schedule(); });
  kind.addEventListener("change", () => { f.kind = kind.value; sync(); schedule(); });
  view.querySelector("#chips").addEventListener("click", (ev) => {
    const chip = ev.target.closest("button[data-state]");
    if (!chip) return;
    f.state = chip.dataset.state; sync(); draw();
  });
  view.querySelector("#apps tbody").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target.tagName === "TR") navigate(ev.target.querySelector("td.name a").getAttribute("href"));
  });
  const stop = store.subscribe((change) => { if (change.op === "snapshot" || change.view === "apps") schedule(); });
  const tick = setInterval(schedule, 30000);
  if (store.loaded) draw();
  return { dispose() { stop(); clearInterval(tick); if (frame) cancelAnimationFrame(frame); } };
}
