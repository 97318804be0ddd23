"""JSON log lines carry the object's identity and never a Secret's data."""

from __future__ import annotations

import base64
import io
import json
import logging

from eddy_runtime import logs

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "creds", "namespace": "apps"},
    "data": {"password": base64.b64encode(b"hunter2").decode()},
    "stringData": {"token": "s3cr3t-token"},
}


def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JSONFormatter("source-controller"))
    handler.addFilter(logs.RedactFilter())
    logger = logging.getLogger("test.logs")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_secret_data_never_reaches_a_line() -> None:
    logger, stream = capture()
    logger.info("got %s", SECRET)
    logger.info("got", extra={"obj": SECRET})
    logger.info("list %s", {"kind": "List", "items": [SECRET]})
    logger.info("as args %(s)s", {"s": SECRET})
    out = stream.getvalue()
    assert "hunter2" not in out and SECRET["data"]["password"] not in out
    assert "s3cr3t-token" not in out
    assert out.count(logs.REDACTED) >= 4
    assert SECRET["data"]["password"] in str(SECRET)  # the original is left alone


def test_lines_are_json_with_object_identity() -> None:
    logger, stream = capture()
    with logs.object_context("GitRepository", "flux-system", "podinfo"):
        logs.set_revision("main@sha1:" + "a" * 40)
        logger.info("fetched", extra={"took": 1.5})
    entry = json.loads(stream.getvalue())
    assert entry["msg"] == "fetched"
    assert entry["level"] == "info"
    assert entry["controller"] == "source-controller"
    assert (entry["kind"], entry["namespace"], entry["name"]) == (
        "GitRepository",
        "flux-system",
        "podinfo",
    )
    assert entry["revision"].startswith("main@sha1:")
    assert entry["took"] == 1.5


def test_non_secret_data_is_kept() -> None:
    logger, stream = capture()
    logger.info("%s", {"kind": "ConfigMap", "data": {"k": "visible"}})
    assert "visible" in stream.getvalue()
