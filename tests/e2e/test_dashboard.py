"""The dashboard in a real Chromium, against real controllers and a real API server.

What a person checks by looking: every application listed with its state, the
tree down to the Pods, drift after `kubectl scale`, history after a push, a
suspend click that suspends, and a read-only user who cannot.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from selenium.webdriver.common.by import By

from eddy_testenv import ControlPlane, find_binary
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.dashboard import Browser, DashboardProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepo, GitRepos
from eddy_testenv.helmrepo import HelmRepo

from .support import DEPLOYMENT, SERVICE, controller_processes, settings_map

TIMEOUT = 60.0


@dataclass
class Scene:
    plane: ControlPlane
    namespace: str
    repo: GitRepo
    dashboard: DashboardProcess

    def kubectl(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [find_binary("kubectl"), f"--kubeconfig={self.plane.kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, timeout=150, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(
            self.kubectl("get", kind, name, "-n", self.namespace, "-o", "json")
        )
        return found

    def url(self, path: str) -> str:
        return self.dashboard.base_url + path


def kustomization(name: str, namespace: str, path: str, depends_on: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "interval": "10m",
        "path": path,
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "app"},
        "targetNamespace": namespace,
    }
    if depends_on:
        spec["dependsOn"] = [{"name": depends_on}]
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def scene(
    control_plane: ControlPlane,
    controllers: list[ControllerProcess],
    git_repos: GitRepos,
    git_server: GitHTTPServer,
) -> Iterator[Scene]:
    namespace = f"dashboard-{secrets.token_hex(3)}"
    name = f"dashboard-{secrets.token_hex(3)}"
    git_repos.create(name)
    repo = GitRepo(git_repos, name)
    repo.commit(
        {
            "web/deployment.yaml": DEPLOYMENT,
            "web/service.yaml": SERVICE,
            "web/configmap.yaml": settings_map("hello"),
            "db/configmap.yaml": settings_map("db").replace("settings", "db-settings"),
        },
        message="first version of the web app",
    )
    with tempfile.TemporaryDirectory(prefix="eddy-dashboard-") as tmp:
        dashboard = DashboardProcess(control_plane.kubeconfig, Path(tmp))
        scene = Scene(control_plane, namespace, repo, dashboard)
        scene.kubectl("create", "namespace", namespace)
        source = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "app"},
            "spec": {
                "interval": "10m",
                "url": git_server.repo_url(name),
                "ref": {"branch": "main"},
            },
        }
        objects = [
            source,
            kustomization("web", namespace, "./web"),
            kustomization("db", namespace, "./db"),
            kustomization("frontend", namespace, "./web", depends_on="payments"),
        ]
        scene.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(objects))
        scene.kubectl(
            "wait", "-n", namespace, "--for=condition=Ready", "--timeout=90s",
            "kustomization/web", "kustomization/db",
        )  # fmt: skip
        dashboard.start()
        try:
            yield scene
        finally:
            dashboard.stop()
            subprocess.run(
                [find_binary("kubectl"), f"--kubeconfig={control_plane.kubeconfig}",
                 "delete", "namespace", namespace, "--wait=false"],
                capture_output=True, check=False, timeout=60,
            )  # fmt: skip


@pytest.fixture(scope="module")
def page(scene: Scene, browser: Browser) -> Browser:
    browser.get(scene.dashboard.login_url)
    browser.one("#apps")
    return browser


def rows(browser: Browser, namespace: str) -> dict[str, str]:
    """Application name -> the state its badge shows, for one namespace."""
    found = {}
    for tr in browser.css("#apps tbody tr"):
        key = tr.get_attribute("data-key") or ""
        _, ns, name = key.split("/")
        if ns == namespace:
            found[name] = tr.get_attribute("data-state") or ""
    return found


def test_apps_list_shows_every_application_live(scene: Scene, page: Browser) -> None:
    page.get(scene.url(f"/apps?namespace={scene.namespace}"))
    states = page.wait(
        "the three applications are listed",
        lambda: (r := rows(page, scene.namespace)) and len(r) == 3 and r,
    )
    assert states["web"] == "Ready"
    assert states["db"] == "Ready"
    assert states["frontend"] == "Waiting"
    web = page.css(f'#apps tr[data-key="Kustomization/{scene.namespace}/web"]')[0]
    assert "GitRepository" in web.text and "main@" in web.text

    # Without `wait`, health comes from the applied objects' kstatus: the ConfigMap
    # of db is current; web's Deployment is healthy only once its Pods run on a node.
    def health(name: str) -> str:
        cell = page.css(f'#apps tr[data-key="Kustomization/{scene.namespace}/{name}"] .health')
        return cell[0].text if cell else ""

    page.wait("db is assessed Healthy", lambda: health("db") == "Healthy")
    page.wait("web is assessed", lambda: health("web") in ("Progressing", "Healthy"))

    # Typing in the filter narrows the list; the URL keeps it for a deep link.
    search = page.one("#q")
    search.send_keys("front")
    page.wait("only frontend is left", lambda: list(rows(page, scene.namespace)) == ["frontend"])
    assert "q=front" in page.driver.current_url
    search.clear()
    search.send_keys(" ")

    # A new application appears without a reload.
    scene.kubectl(
        "apply", "-n", scene.namespace, "-f", "-",
        stdin=yaml.safe_dump(kustomization("late", scene.namespace, "./db")),
    )  # fmt: skip
    page.wait("the new application appears live", lambda: "late" in rows(page, scene.namespace))
    assert page.errors() == []


def test_tree_shows_objects_down_to_pods(scene: Scene, page: Browser) -> None:
    page.get(scene.url(f"/apps/Kustomization/{scene.namespace}/web"))
    page.one(".tree")
    cards = page.wait(
        "the Deployment, its ReplicaSet and two Pods are in the tree",
        lambda: (
            (found := [c.get_attribute("data-node") or "" for c in page.css(".tree .card")])
            and sum(1 for c in found if c.startswith("Pod/")) == 2
            and found
        ),
    )
    kinds = {c.split("/")[0] for c in cards}
    assert {"Kustomization", "Deployment", "ReplicaSet", "Pod", "Service", "ConfigMap"} <= kinds
    deployment = page.css(f'.card[data-node="Deployment/{scene.namespace}/web"]')[0]
    # The Deployment's kstatus health and its reason are shown on its card.
    assert "DEPLOYMENT" in deployment.text.upper()
    assert page.errors() == []


CHART_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: app
          image: nginx:1.27
"""
CHART_CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  greeting: {{ .Values.greeting | quote }}
"""


def test_helm_release_tree_from_its_release(
    scene: Scene, page: Browser, helm_repo: HelmRepo, tmp_path: Path
) -> None:
    """A HelmRelease's tree comes from the release Helm stored: its objects down to Pods."""
    helm_repo.package(
        "shop",
        "1.0.0",
        values={"replicas": 2, "greeting": "hi"},
        templates={"deployment.yaml": CHART_DEPLOYMENT, "configmap.yaml": CHART_CONFIG},
    )
    suite = f"dashboard-helm-{secrets.token_hex(3)}"
    labels = {"testing.eddy.dev/suite": suite}
    objects = [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "charts", "labels": labels},
            "spec": {"interval": "10m", "url": helm_repo.url},
        },
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "shop", "labels": labels},
            "spec": {
                "interval": "10m",
                "chart": {
                    "spec": {
                        "chart": "shop",
                        "version": "1.0.0",
                        "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                    }
                },
                # No node runs the Pods here: do not wait for them to be ready.
                "install": {"disableWait": True},
                "upgrade": {"disableWait": True},
            },
        },
    ]
    with controller_processes(
        scene.plane.kubeconfig, tmp_path, ["helm"], selector=f"testing.eddy.dev/suite={suite}"
    ):
        scene.kubectl("apply", "-n", scene.namespace, "-f", "-", stdin=yaml.safe_dump_all(objects))
        scene.kubectl(
            "wait", "-n", scene.namespace, "--for=condition=Ready", "--timeout=120s",
            "helmrelease/shop",
        )  # fmt: skip
        page.get(scene.url(f"/apps/HelmRelease/{scene.namespace}/shop"))
        cards = page.wait(
            "the release's Deployment, ConfigMap, ReplicaSet and two Pods are in the tree",
            lambda: (
                (found := [c.get_attribute("data-node") or "" for c in page.css(".tree .card")])
                and sum(1 for c in found if c.startswith("Pod/")) == 2
                and found
            ),
            timeout=TIMEOUT,
        )
        assert f"HelmRelease/{scene.namespace}/shop" in cards
        assert f"Deployment/{scene.namespace}/shop" in cards
        assert f"ConfigMap/{scene.namespace}/shop-config" in cards
        assert any(c.startswith(f"ReplicaSet/{scene.namespace}/shop-") for c in cards)
        # The history is Helm's: the chart version installed, as release v1.
        page.get(scene.url(f"/apps/HelmRelease/{scene.namespace}/shop?tab=history"))
        page.wait(
            "the history shows the installed chart",
            lambda: (t := page.css("#history")) and "shop@1.0.0" in t[0].text and t[0].text,
        )
        assert "v1" in page.css("#history tbody tr")[0].text
        # In the list: its chart source and the health Helm reported.
        page.get(scene.url(f"/apps?namespace={scene.namespace}&q=shop"))
        row = page.wait(
            "the HelmRelease is listed as Ready",
            lambda: (
                (r := page.css(f'#apps tr[data-key="HelmRelease/{scene.namespace}/shop"]'))
                and r[0].get_attribute("data-state") == "Ready"
                and r[0]
            ),
        )
        assert "HelmRepository" in row.text and "Healthy" in row.text
        assert page.errors() == []


def test_drift_after_kubectl_scale(scene: Scene, page: Browser) -> None:
    page.get(scene.url(f"/apps/Kustomization/{scene.namespace}/web?tab=drift"))
    page.wait("the page says there is no drift", lambda: "No drift" in page.text("#tab"))
    scene.kubectl("scale", "-n", scene.namespace, "deployment/web", "--replicas=5")
    # Live, from the watch on the tree's objects: well before the page's slow re-read.
    # The page re-renders live: a row is read whole inside the wait, never kept.
    text = page.wait(
        "the drift table names spec.replicas without a reload",
        lambda: row_text(page, "#drift", "spec.replicas"),
        timeout=10,
    )
    assert "5" in text
    assert "kubectl" in text

    # A reconcile sets it back; the controller's report (status.drift) says what it
    # found, Git's value it restored, and who had changed it.
    page.click('button[data-action="reconcile"]')
    cells = page.wait(
        "the drift eddy corrected is reported with Git's value",
        lambda: row_cells(page, "#drift-report", "spec.replicas"),
        timeout=TIMEOUT,
    )
    assert cells[2:4] == ["5", "2"], cells
    assert "kubectl" in cells[4] and cells[5] == "Corrected"
    assert scene.get("deployment", "web")["spec"]["replicas"] == 2
    assert page.errors() == []


def test_history_after_push(scene: Scene, page: Browser) -> None:
    first = scene.get("kustomization", "web")["status"]["lastAppliedRevision"]
    second = scene.repo.commit(
        {"web/configmap.yaml": settings_map("bonjour")}, message="say bonjour"
    )
    page.get(scene.url(f"/apps/Kustomization/{scene.namespace}/web?tab=history"))
    page.click('button[data-action="reconcile-source"]')
    page.wait(
        "the history lists the pushed revision above the first one",
        lambda: (
            (t := page.css("#history"))
            and second[:7] in t[0].text
            and first.split(":")[-1][:7] in t[0].text
        ),
        timeout=TIMEOUT,
    )
    newest = page.css("#history tbody tr")[0].text
    assert second[:7] in newest
    # The commit's message and author come with it, from the GitRepository's artifact.
    page.wait(
        "the newest revision shows its commit",
        lambda: "say bonjour" in page.css("#history tbody tr")[0].text,
    )
    commit = page.css("#history tbody tr")[0].find_element(By.CSS_SELECTOR, ".commit")
    assert "say bonjour" in commit.text and "eddy test" in commit.text
    # The first revision keeps its commit too: the controller's status.history
    # recorded it when it applied it.
    older = next(r for r in page.css("#history tbody tr") if first.split(":")[-1][:7] in r.text)
    assert "first version of the web app" in older.text
    history = scene.get("kustomization", "web")["status"]["history"]
    assert history[0]["metadata"]["revision"].endswith(second)
    assert history[0]["metadata"]["commit.eddy.dev/message"] == "say bonjour"
    assert history[0]["lastReconciledStatus"] == "ReconciliationSucceeded"
    assert scene.get("configmap", "settings")["data"]["greeting"] == "bonjour"
    assert page.errors() == []


def test_dependencies_say_why_not_applied(scene: Scene, page: Browser) -> None:
    page.get(scene.url(f"/apps/Kustomization/{scene.namespace}/frontend?tab=deps"))
    notice = page.wait(
        "the page says what frontend waits for",
        lambda: (n := page.css("#tab .notice.bad")) and n[0],
    )
    assert "payments" in notice.text and "does not exist" in notice.text


def test_sources_and_cluster_overview(scene: Scene, page: Browser) -> None:
    # The page re-renders on every live update, so each check reads what it needs from
    # the elements in one go and is retried when they were replaced meanwhile.
    def source_row() -> tuple[str, str] | None:
        for row in page.css("#GitRepository tbody tr"):
            text = row.text
            if scene.namespace in text:
                return row.get_attribute("data-state") or "", text
        return None

    page.get(scene.url("/sources"))
    _, text = page.wait(
        "the GitRepository is listed Ready with its revision",
        lambda: (found := source_row()) and found[0] == "Ready" and "main@" in found[1] and found,
    )
    assert "branch: main" in text
    page.get(scene.url(f"/sources/GitRepository/{scene.namespace}/app"))
    used_by = page.wait(
        "the source's page lists what uses it",
        lambda: (p := page.css(".panel")) and "web" in (t := p[0].text) and t,
    )
    assert "frontend" in used_by and "db" in used_by
    page.get(scene.url("/overview"))
    attention = page.wait(
        "the overview puts the waiting application first",
        lambda: (a := page.css("#attention")) and scene.namespace in (t := a[0].text) and t,
    )
    assert "frontend" in attention
    assert page.errors() == []


def test_suspend_click_suspends(scene: Scene, page: Browser) -> None:
    page.get(scene.url(f"/apps/Kustomization/{scene.namespace}/db"))
    page.click('button[data-action="suspend"]')
    page.wait(
        "the API shows the Kustomization suspended",
        lambda: scene.get("kustomization", "db")["spec"].get("suspend") is True,
    )
    page.wait(
        "the page shows it Suspended",
        lambda: page.one("#view").get_attribute("data-state") == "Suspended",
    )
    page.click('button[data-action="resume"]')
    page.wait(
        "the API shows it resumed",
        lambda: scene.get("kustomization", "db")["spec"].get("suspend") is False,
    )
    assert page.errors() == []


VIEWER_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {name}
rules:
  - apiGroups: [source.toolkit.fluxcd.io, kustomize.toolkit.fluxcd.io, helm.toolkit.fluxcd.io,
                image.toolkit.fluxcd.io]
    resources: ["*"]
    verbs: [get, list, watch]
  - apiGroups: ["", apps, batch]
    resources: [events, pods, services, configmaps, deployments, replicasets, jobs]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {name}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {name}}}
subjects:
  - {{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}
"""


def row_cells(page: Browser, table: str, containing: str) -> list[str] | None:
    """The cells of the first row of `table` that contains `containing`, read at once."""
    for found in page.css(table):
        for row in found.find_elements(By.CSS_SELECTOR, "tbody tr"):
            if containing in row.text:
                return [c.text for c in row.find_elements(By.CSS_SELECTOR, "td")]
    return None


def row_text(page: Browser, table: str, containing: str) -> str | None:
    cells = row_cells(page, table, containing)
    return " ".join(cells) if cells else None


def test_read_only_user_cannot_suspend(scene: Scene, browser: Browser, tmp_path: Path) -> None:
    user = f"viewer-{secrets.token_hex(3)}"
    scene.kubectl("apply", "-f", "-", stdin=VIEWER_ROLE.format(name=user, user=user))
    config = yaml.safe_load(scene.plane.kubeconfig.read_text())
    for entry in config["users"]:
        entry["user"]["as"] = user
    kubeconfig = tmp_path / "viewer.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    with DashboardProcess(kubeconfig, tmp_path, name="viewer-dashboard") as viewer:
        browser.get(viewer.login_url)
        browser.get(viewer.base_url + f"/apps/Kustomization/{scene.namespace}/web")
        notice = browser.one("#readonly")
        assert "not change it" in notice.text
        button = browser.one('button[data-action="suspend"]')
        assert button.get_attribute("aria-disabled") == "true"
        assert f"Signed in as {user}" in browser.text("#user")
        # Found again at the click: the page may have re-rendered since.
        browser.wait(
            "the suspend button takes the click",
            lambda: browser.one('button[data-action="suspend"]').click() or True,
        )
        toast = browser.wait(
            "a message says why",
            lambda: (t := browser.css("#toast")) and t[0].is_displayed() and t[0],
        )
        assert "may not suspend" in toast.text
        # Sent anyway (as a script could), the API server refuses as the person.
        answer = browser.driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const url = arguments[0];
            (async () => {
              const s = await (await fetch('/api/session')).json();
              const headers = {'X-CSRF-Token': s.csrf};
              const r = await fetch(url, {method: 'POST', headers});
              done({status: r.status, body: await r.json()});
            })();
            """,
            f"/api/objects/Kustomization/{scene.namespace}/web/suspend",
        )
        assert answer["status"] == 403
        assert "allows viewing only" in answer["body"]["error"]
        # Without the CSRF token the dashboard itself refuses before asking the API.
        forged = browser.driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            fetch(arguments[0], {method: 'POST'}).then((r) => done(r.status));
            """,
            f"/api/objects/Kustomization/{scene.namespace}/web/suspend",
        )
        assert forged == 403
    # The 403 answers above are the positive signal that nothing was changed.
    assert scene.get("kustomization", "web")["spec"].get("suspend") in (None, False)
