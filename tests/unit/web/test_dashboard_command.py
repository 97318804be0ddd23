"""`eddy dashboard` as a person runs it: a link to open, and nothing served without it.

No cluster is needed to see the login work: the API server is asked nothing
until a logged-in page wants data.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "u", "user": {"token": "unused"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "x",
}


@pytest.fixture
def link(tmp_path: Path) -> Iterator[str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))
    argv = [sys.executable, "-m", "eddy_cli", f"--kubeconfig={kubeconfig}", "dashboard",
            "--port=0", "--no-open"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and "open http" not in line:
            line = process.stdout.readline()
        found = re.search(r"open (http://\S+)", line)
        assert found, f"no link printed; last line: {line!r}"
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(10)


def request(url: str, path: str, cookie: str = "", method: str = "GET") -> http.client.HTTPResponse:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    connection.request(method, path, headers={"Cookie": cookie} if cookie else {})
    return connection.getresponse()


def test_the_printed_link_logs_in_and_nothing_else_does(link: str) -> None:
    parts = urlsplit(link)
    assert parts.hostname == "127.0.0.1"
    assert request(link, "/healthz").status == 200
    assert request(link, "/api/session").status == 401
    assert request(link, "/apps").status == 401
    assert request(link, "/login?token=wrong").status == 401
    assert request(link, "/login?token=%C3%A9").status == 401

    answer = request(link, f"{parts.path}?{parts.query}")
    assert answer.status == 302
    cookie = answer.getheader("Set-Cookie") or ""
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    session = cookie.split(";")[0]

    page = request(link, "/apps", session)
    assert page.status == 200
    assert "default-src 'self'" in (page.getheader("Content-Security-Policy") or "")
    # Actions need the CSRF token the page reads from /api/session, not just the cookie.
    forged = request(link, "/api/objects/Kustomization/default/app/suspend", session, "POST")
    assert forged.status == 403
