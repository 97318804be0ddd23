// Small helpers every view uses: escaping, times, revisions, badges.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// A raw HTML fragment that `html` inserts as is.
export class Raw {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

export function raw(text) { return new Raw(text); }

// html`<b>${value}</b>`: values are escaped unless they are Raw (or arrays of them).
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, i) => {
    if (value instanceof Raw) out += value.text;
    else if (Array.isArray(value)) out += value.map((v) => (v instanceof Raw ? v.text : esc(v))).join("");
    else out += esc(value);
    out += strings[i + 1];
  });
  return new Raw(out);
}

export function ago(stamp) {
  if (!stamp) return "";
  const then = Date.parse(stamp);
  if (Number.isNaN(then)) return "";
  const s = Math.max(0, Math.round((Date.now() - then) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function when(stamp) {
  return stamp ? html`<time datetime="${stamp}" title="${stamp}">${ago(stamp)}</time>` : raw("");
}

// "main@sha1:0123456789abcdef…" -> "main@0123456"
export function shortRev(rev) {
  if (!rev) return "";
  const m = /^(.*?)@?(sha1|sha256):([0-9a-f]+)$/.exec(rev);
  if (m) return `${m[1] ? m[1] + "@" : ""}${m[3].slice(0, 7)}`;
  return rev.length > 40 ? rev.slice(0, 40) + "…" : rev;
}

export function revision(rev) {
  return rev ? html`<span class="rev" title="${rev}">${shortRev(rev)}</span>` : raw('<span class="muted">—</span>');
}

export function badge(state, label) {
  const text = label || state || "Unknown";
  return html`<span class="badge s-${state || "Unknown"}">${text}</span>`;
}

export function bytes(n) {
  if (n == null) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(u ? 1 : 0)} ${units[u]}`;
}

export function objectPath(kind, namespace, name) {
  const base = ["Kustomization", "HelmRelease"].includes(kind) ? "/apps" :
    ["ImageRepository", "ImagePolicy", "ImageUpdateAutomation"].includes(kind) ? "/images" : "/sources";
  return `${base}/${encodeURIComponent(kind)}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}

export function link(kind, namespace, name, text) {
  return html`<a href="${objectPath(kind, namespace, name)}" data-link>${text ?? name}</a>`;
}

export function key(row) { return `${row.kind}/${row.namespace}/${row.name}`; }

export const STATES = ["Failed", "Stalled", "Waiting", "Reconciling", "Suspended", "Unknown", "Ready"];
export const STATE_RANK = Object.fromEntries(STATES.map((s, i) => [s, i]));
