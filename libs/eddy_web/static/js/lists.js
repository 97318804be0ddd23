// Sources and image automation: one table per kind, each row a deep link.
import { store } from "./store.js";
import { STATE_RANK, badge, bytes, esc, html, link, raw, revision, when } from "./util.js";

function table(id, title, rows, columns, why) {
  const head = columns.map(([label]) => `<th>${esc(label)}</th>`).join("");
  const cls = (label) => (label === "Message" ? ' class="msg"' : ["Size", "Last fetch", "Last scan", "Last push", "Last run", "Revision", "Name"].includes(label) ? ' class="nowrap"' : "");
  const body = rows.length
    ? rows.map((r) => `<tr data-state="${esc(r.state)}">` + columns.map(([label, cell]) => `<td${cls(label)}>${cell(r)}</td>`).join("") + "</tr>").join("")
    : `<tr><td colspan="${columns.length}" class="muted">${esc(why || "None.")}</td></tr>`;
  return `<div class="panel"><h2>${esc(title)} <span class="muted">${rows.length}</span></h2><table class="grid" id="${id}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

const status = (r) => badge(r.state).text;
const name = (r) => html`<span class="name">${link(r.kind, r.namespace, r.name)}</span>`.text;
const ns = (r) => esc(r.namespace);
const msg = (r) => html`<span title="${r.message}">${r.message}</span>`.text;
const sorted = (rows) => rows.sort((a, b) => (STATE_RANK[a.state] - STATE_RANK[b.state]) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));

function listView(view, heading, sub, sections) {
  view.innerHTML = `<div class="page-head"><h1>${esc(heading)}</h1><span class="sub">${esc(sub)}</span></div><div id="tables"><p class="loading">Loading…</p></div>`;
  let frame = 0;
  const draw = () => {
    frame = 0;
    if (!store.loaded) return;
    // Kinds this cluster does not serve get no empty table; ones you may not list say so.
    const shown = sections.filter(([kind, , , viewName]) => store.served.includes(kind) || store.unavailable[kind] || store.rows(viewName).some((r) => r.kind === kind));
    view.querySelector("#tables").innerHTML = shown.map(([kind, title, columns, viewName]) => {
      const rows = sorted(store.rows(viewName).filter((r) => r.kind === kind));
      const why = store.unavailable[kind] ? `${kind}: ${store.unavailable[kind]}` : `No ${kind} yet, or none you may see.`;
      return table(kind, title, rows, columns, why);
    }).join("");
  };
  const stop = store.subscribe(() => { if (!frame) frame = requestAnimationFrame(draw); });
  draw();
  return { dispose() { stop(); if (frame) cancelAnimationFrame(frame); } };
}

const artifactCols = [
  ["Status", status], ["Name", name], ["Namespace", ns],
  ["Revision", (r) => revision(r.artifact ? r.artifact.revision : r.revision).text],
  ["Size", (r) => esc(r.artifact ? bytes(r.artifact.size) : "")],
  ["Digest", (r) => (r.artifact && r.artifact.digest ? html`<code title="${r.artifact.digest}">${r.artifact.digest.slice(7, 19)}</code>`.text : "")],
  ["Last fetch", (r) => when(r.artifact && r.artifact.lastUpdateTime).text],
  ["Message", msg],
];

export function sourcesView(view) {
  return listView(view, "Sources", "Where applications come from: Git, Helm, OCI and Bucket sources", [
    ["GitRepository", "Git repositories", [...artifactCols.slice(0, 3), ["URL", (r) => html`<code>${r.url}</code> <span class="muted">${r.ref}</span>`.text], ...artifactCols.slice(3)], "sources"],
    ["OCIRepository", "OCI repositories", [...artifactCols.slice(0, 3), ["URL", (r) => html`<code>${r.url}</code>`.text], ...artifactCols.slice(3)], "sources"],
    ["HelmRepository", "Helm repositories", [...artifactCols.slice(0, 3), ["URL", (r) => html`<code>${r.url}</code>`.text], ...artifactCols.slice(3)], "sources"],
    ["HelmChart", "Helm charts", [...artifactCols.slice(0, 3), ["Chart", (r) => esc(`${r.chart} ${r.version || ""}`)], ...artifactCols.slice(3)], "sources"],
    ["Bucket", "Buckets", [...artifactCols.slice(0, 3), ["Endpoint", (r) => html`<code>${r.url}</code>`.text], ...artifactCols.slice(3)], "sources"],
  ]);
}

export function imagesView(view) {
  return listView(view, "Image automation", "New images found, chosen, and committed to Git", [
    ["ImageRepository", "Image repositories", [["Status", status], ["Name", name], ["Namespace", ns], ["Image", (r) => html`<code>${r.image}</code>`.text], ["Tags", (r) => esc(r.tagCount ?? "")], ["Last scan", (r) => when(r.lastScan).text], ["Message", msg]], "images"],
    ["ImagePolicy", "Image policies", [["Status", status], ["Name", name], ["Namespace", ns], ["Repository", (r) => (r.repository ? link("ImageRepository", r.namespace, r.repository).text : "")], ["Latest image", (r) => html`<code>${r.latestImage}</code>`.text], ["Message", msg]], "images"],
    ["ImageUpdateAutomation", "Image update automations", [["Status", status], ["Name", name], ["Namespace", ns], ["Source", (r) => (r.source ? link(r.source.kind, r.source.namespace, r.source.name).text : "")], ["Last commit pushed", (r) => html`<code>${(r.lastPushCommit || "").slice(0, 12)}</code>`.text], ["Last push", (r) => when(r.lastPushTime).text], ["Last run", (r) => when(r.lastAutomationRunTime).text], ["Message", msg]], "images"],
  ]);
}

export { raw };
