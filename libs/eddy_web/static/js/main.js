// The page shell: session, router, live store, and the one place actions are sent.
import { connect, store } from "./store.js";
import { esc } from "./util.js";
import { appsView } from "./apps.js";
import { detailView } from "./detail.js";
import { sourcesView, imagesView } from "./lists.js";
import { overviewView } from "./overview.js";

export const session = { user: "", groups: [], csrf: "", mode: "local" };
let current = null;

export async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    ...options,
    headers: { Accept: "application/json", "X-CSRF-Token": session.csrf, ...(options.headers || {}) },
  });
  let body = {};
  try { body = await response.json(); } catch { body = {}; }
  if (!response.ok) {
    const error = new Error(body.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

let toastTimer = null;
export function toast(message, bad = false) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.toggle("bad", bad);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, bad ? 9000 : 4000);
}

function route(path) {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const [section, kind, namespace, name] = parts;
  if (kind && namespace && name) return (view) => detailView(view, kind, namespace, name);
  if (section === "sources") return sourcesView;
  if (section === "images") return imagesView;
  if (section === "overview") return overviewView;
  return appsView;
}

export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

function render() {
  if (current && current.dispose) current.dispose();
  const view = document.getElementById("view");
  const section = location.pathname.split("/")[1] || "apps";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  current = route(location.pathname)(view) || null;
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[data-link]");
  if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin) return;
  ev.preventDefault();
  navigate(url.pathname + url.search + url.hash);
  document.getElementById("view").focus({ preventScroll: true });
});
window.addEventListener("popstate", render);

async function start() {
  try {
    Object.assign(session, await api("/api/session"));
  } catch (err) {
    document.getElementById("view").innerHTML = `<div class="notice bad">${esc(err.message)}</div>`;
    return;
  }
  const who = document.getElementById("user");
  who.textContent = session.user ? `Signed in as ${session.user}` : "Using your kubeconfig";
  if (session.mode === "oidc") {
    const out = document.createElement("a");
    out.href = "/auth/logout";
    out.textContent = "Log out";
    who.append(out);
  }
  if (location.pathname === "/") history.replaceState(null, "", "/apps");
  connect();
  render();
  store.subscribe(() => { document.body.dataset.loaded = "true"; });
}

start();
