"""The in-cluster dashboard: people log in at a real OIDC provider (Dex) and act as themselves.

Each API request impersonates the person and their groups, so an operator's
Suspend works and a viewer's is refused by Kubernetes RBAC; the session lives
in an HttpOnly cookie and the page never holds a token.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from eddy_testenv import ControlPlane, find_binary
from eddy_testenv.dashboard import Browser, DashboardProcess
from eddy_testenv.dex import Dex, DexUser
from eddy_testenv.waiting import until

OPERATOR = DexUser("ann@example.com", secrets.token_urlsafe(12), ("platform",))
VIEWER = DexUser("bob@example.com", secrets.token_urlsafe(12), ("auditors",))

RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {ns}-view}}
rules:
  - apiGroups: [kustomize.toolkit.fluxcd.io, source.toolkit.fluxcd.io]
    resources: ["*"]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [events]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {ns}-view}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {ns}-view}}
subjects:
  - {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "oidc:platform"}}
  - {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "oidc:auditors"}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: operate, namespace: {ns}}}
rules:
  - apiGroups: [kustomize.toolkit.fluxcd.io]
    resources: [kustomizations]
    verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: operate, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: operate}}
subjects:
  - {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "oidc:platform"}}
"""


@dataclass
class Site:
    plane: ControlPlane
    namespace: str
    dashboard: DashboardProcess
    # A second replica with the same session key, as a Deployment with two Pods runs.
    replica: DashboardProcess

    def kubectl(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [find_binary("kubectl"), f"--kubeconfig={self.plane.kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def suspended(self) -> Any:
        obj = json.loads(self.kubectl("get", "-n", self.namespace, "kustomization/app", "-o=json"))
        return obj["spec"].get("suspend")


@pytest.fixture(scope="module")
def site(control_plane: ControlPlane) -> Iterator[Site]:
    namespace = f"oidc-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="eddy-oidc-") as tmp:
        workdir = Path(tmp)
        dex = Dex([OPERATOR, VIEWER], [])
        secret_file = workdir / "client-secret"
        secret_file.write_text(dex.client_secret)
        key_file = workdir / "session-key"
        key_file.write_text(secrets.token_urlsafe(32))
        args = [
            f"--oidc-issuer-url={dex.issuer}",
            f"--oidc-client-id={dex.client_id}",
            f"--oidc-client-secret-file={secret_file}",
            "--oidc-username-prefix=oidc:",
            "--oidc-groups-prefix=oidc:",
            f"--session-key-file={key_file}",
        ]
        dashboard = DashboardProcess(
            control_plane.kubeconfig, workdir, args=args, name="oidc-dashboard"
        )
        callback = f"--oidc-redirect-url={dashboard.base_url}/auth/callback"
        dashboard.process.argv.append(callback)
        replica = DashboardProcess(
            control_plane.kubeconfig, workdir, args=[*args, callback], name="oidc-dashboard-2"
        )
        dex.redirect_urls = [f"{dashboard.base_url}/auth/callback"]
        site = Site(control_plane, namespace, dashboard, replica)
        site.kubectl("create", "namespace", namespace)
        site.kubectl("apply", "-f", "-", stdin=RBAC.format(ns=namespace))
        app = {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "interval": "10m",
                "path": "./",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "nowhere"},
            },
        }
        site.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(app))
        with dex, dashboard, replica:
            yield site
        site.kubectl("delete", "namespace", namespace, "--wait=false")
        site.kubectl("delete", "clusterrole,clusterrolebinding", f"{namespace}-view")


def log_in(browser: Browser, site: Site, user: DexUser) -> None:
    browser.driver.delete_all_cookies()
    browser.get(f"{site.dashboard.base_url}/apps/Kustomization/{site.namespace}/app")
    browser.one("#login").send_keys(user.email)
    browser.one("#password").send_keys(user.password)
    browser.one("#submit-login").click()
    browser.wait(
        "the dashboard shows the application after the login",
        lambda: (
            browser.driver.current_url.startswith(site.dashboard.base_url)
            and browser.css('button[data-action="suspend"], button[data-action="resume"]')
        ),
    )


def test_operator_logs_in_and_suspends_as_themselves(site: Site, browser: Browser) -> None:
    log_in(browser, site, OPERATOR)
    assert "Signed in as oidc:ann@example.com" in browser.text("#user")
    assert browser.css("#readonly") == []
    cookies = {c["name"]: c for c in browser.driver.get_cookies()}
    session = cookies["eddy_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is True
    # No token in the page: nothing JWT-shaped in its HTML or its readable cookies.
    assert "eyJ" not in browser.driver.page_source
    assert browser.script("return document.cookie") == ""
    browser.click('button[data-action="suspend"]')
    browser.wait("the API shows the Kustomization suspended", lambda: site.suspended() is True)
    browser.click('button[data-action="resume"]')
    browser.wait("the API shows it resumed", lambda: site.suspended() is False)


def test_viewer_sees_disabled_buttons_and_cannot_suspend(site: Site, browser: Browser) -> None:
    log_in(browser, site, VIEWER)
    assert "Signed in as oidc:bob@example.com" in browser.text("#user")
    assert "not change it" in browser.one("#readonly").text
    button = browser.one('button[data-action="suspend"]')
    assert button.get_attribute("aria-disabled") == "true"
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
        f"/api/objects/Kustomization/{site.namespace}/app/suspend",
    )
    assert answer["status"] == 403
    assert "oidc:bob@example.com" in answer["body"]["error"]
    assert site.suspended() in (None, False)


def test_logged_out_requests_are_sent_to_the_provider(site: Site, browser: Browser) -> None:
    browser.driver.delete_all_cookies()
    browser.get(f"{site.dashboard.base_url}/sources")
    browser.one("#login")
    assert browser.driver.current_url.startswith(site.dashboard.base_url.rsplit(":", 1)[0])
    assert "/dex/auth" in browser.driver.current_url


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_session_holds_across_replicas_and_restarts(site: Site, browser: Browser) -> None:
    log_in(browser, site, OPERATOR)
    # The other replica opens the same cookie (cookies do not depend on the port).
    browser.get(f"{site.replica.base_url}/apps/Kustomization/{site.namespace}/app")
    browser.wait(
        "the second replica knows the person without a new login",
        lambda: "Signed in as oidc:ann@example.com" in browser.text("#user"),
    )
    assert browser.driver.current_url.startswith(site.replica.base_url)
    # A restarted dashboard still knows them, and acts as them.
    site.dashboard.stop()
    site.dashboard.start()
    until("the restarted dashboard answers", lambda: answers(f"{site.dashboard.base_url}/healthz"))
    browser.get(f"{site.dashboard.base_url}/apps/Kustomization/{site.namespace}/app")
    browser.click('button[data-action="suspend"]')
    browser.wait("the suspend after the restart is done", lambda: site.suspended() is True)
    browser.click('button[data-action="resume"]')
    browser.wait("and resumed", lambda: site.suspended() is False)
    # A cookie sealed with another key (or forged) is nobody's session.
    browser.driver.delete_all_cookies()
    browser.get(f"{site.dashboard.base_url}/healthz")
    browser.driver.add_cookie({"name": "eddy_session", "value": "A" * 120, "path": "/"})
    browser.get(f"{site.dashboard.base_url}/sources")
    browser.one("#login")
    assert "/dex/auth" in browser.driver.current_url
