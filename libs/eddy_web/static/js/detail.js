// One object's page: for applications the tree, drift, history, events and
// dependencies; for sources and image objects their facts and who uses them.
import { api, toast } from "./main.js";
import { store } from "./store.js";
import { ago, badge, bytes, esc, html, link, objectPath, raw, revision, when } from "./util.js";

const APP_KINDS = ["Kustomization", "HelmRelease"];
const TABS = [
  ["tree", "Tree"], ["drift", "Drift"], ["history", "History"], ["events", "Events"],
  ["deps", "Dependencies"], ["spec", "Spec & conditions"],
];

function facts(d) {
  const r = d.row;
  const items = [];
  if (r.source) items.push(["Source", html`${link(r.source.kind, r.source.namespace, r.source.name)} <span class="kind">${r.source.kind}</span>`]);
  items.push(["Revision", revision(r.revision)]);
  if (r.attempted) items.push(["Last attempted", revision(r.attempted)]);
  items.push(["Last applied", when(r.lastApplied)]);
  if (r.interval) items.push(["Interval", r.interval]);
  if (r.path !== undefined) items.push(["Path", html`<code>${r.path || "./"}</code>`]);
  if (r.chart) items.push(["Chart", r.chart]);
  if (r.targetNamespace) items.push(["Target namespace", r.targetNamespace]);
  if (r.url) items.push(["URL", html`<code>${r.url}</code>`]);
  if (r.ref) items.push(["Ref", r.ref]);
  if (r.artifact) {
    items.push(["Artifact size", bytes(r.artifact.size)]);
    items.push(["Digest", html`<code title="${r.artifact.digest}">${(r.artifact.digest || "").slice(0, 23)}…</code>`]);
    items.push(["Last fetch", when(r.artifact.lastUpdateTime)]);
  }
  if (r.image) items.push(["Image", html`<code>${r.image}</code>`]);
  if (r.tagCount != null) items.push(["Tags", String(r.tagCount)]);
  if (r.lastScan) items.push(["Last scan", when(r.lastScan)]);
  if (r.latestImage) items.push(["Latest image", html`<code>${r.latestImage}</code>`]);
  if (r.lastPushCommit) items.push(["Last commit pushed", html`<code>${r.lastPushCommit.slice(0, 12)}</code>`]);
  if (r.lastPushTime) items.push(["Last push", when(r.lastPushTime)]);
  items.push(["Reconcile requested", r.requestedAt ? (r.requestedAt === r.handledAt ? html`${when(r.requestedAt)} (handled)` : html`${when(r.requestedAt)} (pending)`) : "—"]);
  return raw('<div class="facts">' + items.map(([k, v]) => html`<div><div class="k">${k}</div><div class="v">${v}</div></div>`.text).join("") + "</div>");
}

// kstatus words, said the way Argo CD users read them.
const HEALTH_WORDS = { Current: "Healthy", InProgress: "Progressing", Failed: "Degraded", NotFound: "Missing", Unknown: "Unknown" };
function healthBadge(h) { return h ? badge(h.state, HEALTH_WORDS[h.state] || h.state) : raw(""); }

function card(n, root = false) {
  const drifted = n.driftCount ? html` <span class="drifted" title="fields changed outside Git">· ${n.driftCount} drifted</span>` : raw("");
  return html`<div class="card ${root ? "root" : `h-${n.health ? n.health.state : "Unknown"}`}" tabindex="0" data-node="${n.kind}/${n.namespace}/${n.name}">
    <div class="ck"><span>${n.kind}${drifted}</span>${root ? raw("") : healthBadge(n.health)}</div>
    <div class="cn" title="${n.namespace ? n.namespace + "/" : ""}${n.name}">${n.name}</div>
    <div class="cm" title="${n.health ? n.health.message : ""}">${n.health ? n.health.message : ""}${n.created ? " · " + ago(n.created) : ""}</div></div>`;
}

function treeNode(n) {
  const kids = n.children && n.children.length ? raw('<div class="kids">' + n.children.map((c) => treeNode(c).text).join("") + "</div>") : raw("");
  return html`<div class="tnode">${card(n)}${kids}</div>`;
}

function treeTab(d) {
  const nodes = d.tree || [];
  if (nodes.length && nodes[0].error) return html`<div class="notice bad">${nodes[0].error}</div>`;
  if (!nodes.length) return raw('<p class="empty">Nothing applied yet: the inventory is empty.</p>');
  const counts = {};
  for (const x of d.drift || []) { const k = `${x.kind}/${x.namespace}/${x.name}`; counts[k] = (counts[k] || 0) + 1; }
  for (const n of nodes) n.driftCount = counts[`${n.kind}/${n.namespace}/${n.name}`] || 0;
  const root = { kind: d.row.kind, name: d.row.name, namespace: d.row.namespace, health: { state: d.row.state, message: d.row.revision } };
  const order = ["Namespace", "CustomResourceDefinition", "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"];
  nodes.sort((a, b) => ((order.indexOf(a.kind) + 1 || 99) - (order.indexOf(b.kind) + 1 || 99)) || a.name.localeCompare(b.name));
  return html`<div class="panel tree"><div class="tnode">${card(root, true)}<div class="kids">${nodes.map((n) => treeNode(n))}</div></div></div>`;
}

function value(v) {
  if (v === undefined || v === null || v === "") return raw('<span class="muted">—</span>');
  return html`<code>${typeof v === "string" ? v : JSON.stringify(v)}</code>`;
}

// What the kustomize-controller last found changed and what it did about it (status.drift).
function driftReport(d) {
  const rep = d.driftReport || [];
  if (!rep.length) return raw("");
  return html`<h2 class="section">Last drift eddy found</h2>
  <div class="panel"><table class="grid" id="drift-report"><thead><tr><th>Object</th><th>Field</th><th>Found</th><th>Git's value</th><th>Changed by</th><th>Outcome</th><th>When</th></tr></thead><tbody>
  ${rep.map((x) => html`<tr><td class="nowrap">${x.object}</td><td><code>${x.field}</code></td><td>${value(x.found)}</td><td>${value(x.git)}</td><td class="nowrap"><b>${x.manager}</b></td><td>${badge(x.corrected ? "Succeeded" : "Stalled", x.corrected ? "Corrected" : "Reported")}</td><td class="nowrap">${x.time ? when(x.time) : raw('<span class="muted">—</span>')}</td></tr>`)}
  </tbody></table></div>`;
}

function driftTab(d) {
  const drift = d.drift || [];
  if (!drift.length) return html`<div class="notice info">No drift: every field of the applied objects is as eddy last applied it, or set by the cluster itself.</div>${driftReport(d)}`;
  return html`<div class="notice warn">${drift.length} field(s) changed outside Git. eddy sets them back at the next reconcile unless they are excluded.</div>
  <div class="panel"><table class="grid" id="drift"><thead><tr><th>Object</th><th>Field</th><th>Live value</th><th>Git wants</th><th>Changed by</th><th>When</th></tr></thead><tbody>
  ${drift.map((x) => html`<tr><td class="nowrap">${x.kind} <b>${x.name}</b></td><td><code>${x.field}</code></td><td>${value(x.value)}</td><td>${"wanted" in x ? value(x.wanted) : raw('<span class="muted" title="known once the kustomize-controller reports it">—</span>')}</td>
  <td class="nowrap"><b>${x.manager}</b> <span class="muted">${x.operation}${x.subresource ? " /" + x.subresource : ""}</span></td><td class="nowrap">${x.time ? when(x.time) : raw('<span class="muted">—</span>')}</td></tr>`)}
  </tbody></table></div>${driftReport(d)}`;
}

// The commit's subject and author; the whole message on hover.
function commitCell(c) {
  if (!c) return raw('<span class="muted">—</span>');
  const subject = (c.message || "").split("\n")[0];
  const author = (c.author || "").replace(/\s*<[^>]*>$/, "");
  return html`<span class="subject" title="${c.message || ""}">${subject}</span><br><span class="muted author" title="${c.author || ""}">${author}${c.date ? " · " : ""}${c.date ? when(c.date) : ""}</span>`;
}

function historyTab(d) {
  const h = d.history || [];
  if (!h.length) return raw('<p class="empty">No revision applied yet.</p>');
  return html`<div class="panel"><table class="grid" id="history"><thead><tr><th>Revision</th><th>Commit</th><th>Result</th><th>First applied</th><th>Last reconciled</th><th>Reconciliations</th><th>Details</th></tr></thead><tbody>
  ${h.map((x) => html`<tr><td>${revision(x.revision)}</td><td class="commit">${commitCell(x.commit)}</td><td>${x.status ? badge(x.ok ? "Succeeded" : "Failed", x.status) : ""}</td><td class="nowrap">${when(x.first)}</td><td class="nowrap">${when(x.last)}</td><td>${String(x.count || "")}</td><td class="msg" title="${(x.messages || []).join("\n")}">${(x.messages || [])[0] || (x.version ? "Helm release v" + x.version : "")}</td></tr>`)}
  </tbody></table></div>`;
}

function eventsTab(d) {
  const ev = d.events || [];
  if (!ev.length) return raw('<p class="empty">No events (Kubernetes keeps them for an hour).</p>');
  return html`<div class="panel"><table class="grid" id="events"><thead><tr><th>Type</th><th>Reason</th><th>Message</th><th>Count</th><th>Last seen</th><th>From</th></tr></thead><tbody>
  ${ev.map((e) => html`<tr><td>${badge(e.type === "Warning" ? "Failed" : "Ready", e.type)}</td><td>${e.reason}</td><td>${e.message}</td><td>${String(e.count)}</td><td class="nowrap">${when(e.last)}</td><td class="muted">${e.source}</td></tr>`)}
  </tbody></table></div>`;
}

function depsTab(d) {
  const up = d.dependsOn || [], down = d.dependents || [];
  const blocked = up.filter((x) => !x.ready);
  const why = blocked.length
    ? html`<div class="notice bad"><b>Why is this not applied yet?</b> It waits for ${blocked.length} dependenc${blocked.length > 1 ? "ies" : "y"}: ${blocked.map((b) => b.why).join("; ")}</div>`
    : up.length ? raw('<div class="notice info">Every dependency is Ready.</div>') : raw("");
  return html`${why}<div class="deps">
    <div class="panel"><h2>Depends on</h2><div class="pad">${up.length ? raw("<ul>" + up.map((x) => html`<li>${link(x.kind, x.namespace, x.name, `${x.namespace}/${x.name}`)} ${badge(x.state || (x.ready ? "Ready" : "Unknown"))} ${x.why ? html`<div class="why">${x.why}</div>` : ""}</li>`.text).join("") + "</ul>") : raw('<span class="muted">Nothing.</span>')}</div></div>
    <div class="panel"><h2>Needed by</h2><div class="pad">${down.length ? raw("<ul>" + down.map((x) => html`<li>${link(x.kind, x.namespace, x.name, `${x.namespace}/${x.name}`)} ${badge(x.state)}</li>`.text).join("") + "</ul>") : raw('<span class="muted">Nothing depends on this.</span>')}</div></div></div>`;
}

function toYaml(value, indent = "") {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return value.map((v) => `\n${indent}- ${toYaml(v, indent + "  ").replace(/^\n\s*/, "")}`).join("");
  }
  if (typeof value === "object") {
    const keys = Object.keys(value);
    if (!keys.length) return "{}";
    return keys.map((k) => {
      const v = value[k];
      const inner = toYaml(v, indent + "  ");
      return `\n${indent}${k}:${inner.startsWith("\n") ? inner : " " + inner}`;
    }).join("");
  }
  if (typeof value === "string") return /^[\w./:@-]+$/.test(value) && !/^(true|false|null|[\d.]+)$/.test(value) ? value : JSON.stringify(value);
  return String(value);
}

function specTab(d) {
  const conds = d.conditions || [];
  return html`<div class="panel"><h2>Conditions</h2><table class="grid"><thead><tr><th>Type</th><th>Status</th><th>Reason</th><th>Message</th><th>Since</th></tr></thead><tbody>
    ${conds.map((c) => html`<tr><td>${c.type}</td><td>${c.status}</td><td>${c.reason}</td><td>${c.message}</td><td class="nowrap">${when(c.lastTransitionTime)}</td></tr>`)}</tbody></table></div>
    <div class="panel"><h2>Spec</h2><div class="pad"><pre class="yaml">${toYaml(d.spec).trim()}</pre></div></div>`;
}

function consumersPanel(d) {
  const c = d.consumers || [];
  return html`<div class="panel"><h2>Used by</h2><table class="grid"><thead><tr><th>Status</th><th>Name</th><th>Namespace</th><th>Revision</th></tr></thead><tbody>
    ${c.length ? c.map((r) => html`<tr><td>${badge(r.state)}</td><td class="name">${link(r.kind, r.namespace, r.name)}<span class="kind">${r.kind}</span></td><td>${r.namespace}</td><td>${revision(r.revision)}</td></tr>`) : raw('<tr><td colspan="4" class="muted">Nothing uses it.</td></tr>')}</tbody></table></div>
    ${eventsTab(d)}${specTab(d)}`;
}

function actionsBar(d) {
  const r = d.row, may = d.permissions && d.permissions.patch;
  const off = may ? "" : ' aria-disabled="true"';
  const title = may ? "" : ` title="Your Kubernetes role lets you view this ${esc(r.kind)}, not change it."`;
  const isApp = APP_KINDS.includes(r.kind);
  let buttons = `<button class="btn primary" data-action="reconcile"${off}${title}>Reconcile</button>`;
  if (isApp) buttons += `<button class="btn" data-action="reconcile-source"${off}${title}>Reconcile with source</button>`;
  buttons += r.suspended
    ? `<button class="btn" data-action="resume"${off}${title}>Resume</button>`
    : `<button class="btn" data-action="suspend"${off}${title}>Suspend</button>`;
  return raw(`<div class="actions" role="group" aria-label="Actions">${buttons}</div>`);
}

export function detailView(view, kind, namespace, name) {
  let data = null, seen = "", disposed = false, loading = null, again = false;
  const isApp = APP_KINDS.includes(kind);
  const params = new URLSearchParams(location.search);
  let tab = params.get("tab") || "tree";
  const back = isApp ? ["/apps", "Applications"] : kind.startsWith("Image") ? ["/images", "Image automation"] : ["/sources", "Sources"];
  view.innerHTML = `<p class="loading">Loading ${esc(kind)} ${esc(namespace)}/${esc(name)}…</p>`;

  function draw() {
    const d = data, r = d.row;
    const readOnly = !(d.permissions && d.permissions.patch);
    const driftN = (d.drift || []).length;
    const counts = { drift: driftN, history: (d.history || []).length, events: (d.events || []).length, deps: (d.dependsOn || []).length + (d.dependents || []).length };
    const body = { tree: treeTab, drift: driftTab, history: historyTab, events: eventsTab, deps: depsTab, spec: specTab }[tab] || treeTab;
    view.innerHTML = html`
      <div class="crumbs"><a href="${back[0]}" data-link>${back[1]}</a> / ${namespace}</div>
      <div class="page-head"><h1>${name}</h1><span class="kind">${kind}</span>${badge(r.state)}${r.health ? badge(r.health) : ""}${actionsBar(d)}</div>
      ${readOnly ? raw(`<div class="notice info" id="readonly">You can view this ${esc(kind)} but not change it: your Kubernetes role does not allow <code>patch</code> on ${esc(kind)} in ${esc(namespace)}.</div>`) : ""}
      ${r.message ? html`<div class="message ${r.state}"><b>${r.reason || r.state}</b> — ${r.message}</div>` : ""}
      ${facts(d)}
      ${isApp ? html`<nav class="tabs" role="tablist">${TABS.map(([id, label]) => html`<a href="?tab=${id}" role="tab" data-tab="${id}" aria-selected="${tab === id}">${label}${counts[id] ? html`<span class="n ${id === "drift" ? "hot" : ""}">${String(counts[id])}</span>` : ""}</a>`)}</nav>
      <section id="tab">${body(d)}</section>` : consumersPanel(d)}`.text;
    view.querySelector("[data-tab]") && view.querySelectorAll("[data-tab]").forEach((a) => a.addEventListener("click", (ev) => {
      ev.preventDefault(); tab = a.dataset.tab;
      history.replaceState(null, "", `${objectPath(kind, namespace, name)}?tab=${tab}`); draw();
    }));
    view.querySelectorAll("button[data-action]").forEach((b) => b.addEventListener("click", () => act(b)));
    view.dataset.object = `${kind}/${namespace}/${name}`;
    view.dataset.state = r.state;
  }

  async function load() {
    if (loading) { again = true; return; }
    loading = api(`/api/objects/${encodeURIComponent(kind)}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
    try {
      const fresh = await loading;
      const text = JSON.stringify(fresh);
      // Redraw only on a change: a page that stays put keeps focus and selection.
      if (!disposed && text !== seen) { seen = text; data = fresh; draw(); }
    } catch (err) {
      if (!disposed) view.innerHTML = html`<div class="crumbs"><a href="${back[0]}" data-link>${back[1]}</a></div><div class="notice bad">${err.message}</div>`.text;
    } finally {
      loading = null;
      if (again && !disposed) { again = false; load(); }
    }
  }

  async function act(button) {
    const action = button.dataset.action;
    if (button.getAttribute("aria-disabled") === "true") { toast(`You may not ${action} this ${kind}: your role allows viewing only.`, true); return; }
    button.disabled = true;
    try {
      const result = await api(`/api/objects/${encodeURIComponent(kind)}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${action}`, { method: "POST" });
      toast(result.message);
    } catch (err) {
      toast(err.message, true);
      button.disabled = false;
    }
    load();
  }

  // Re-read when this object, its source or a dependency changes (the page's
  // stream), or when an object of its tree changes (the tree's own watch).
  const stop = store.subscribe((change) => {
    if (change.op === "snapshot") return load();
    const r = change.row || change;
    const related = (r.kind === kind && r.namespace === namespace) ||
      (data && data.row.source && r.kind === data.row.source.kind && r.name === data.row.source.name);
    if (related) load();
  });
  // The objects of an application's tree are watched by the server for this page.
  let watch = null;
  const base = `/api/objects/${encodeURIComponent(kind)}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  function watchTree() {
    if (!isApp || watch || disposed || document.hidden) return;
    watch = new EventSource(`${base}/watch`);
    watch.addEventListener("changed", () => load());
  }
  function unwatch() { if (watch) { watch.close(); watch = null; } }
  const onVisibility = () => { if (document.hidden) unwatch(); else { watchTree(); load(); } };
  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("pagehide", unwatch);
  const poll = setInterval(() => { if (!document.hidden) load(); }, 15000);
  load();
  watchTree();
  return {
    dispose() {
      disposed = true; stop(); clearInterval(poll); unwatch();
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("pagehide", unwatch);
    },
  };
}
