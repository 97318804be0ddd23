"""Registry credentials as Kubernetes keeps them: `.dockerconfigjson` Secrets.

A docker-registry Secret maps registry hosts to credentials; the entry for the
registry at hand becomes a basic Authorization header, and nothing else is read.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

from .client import OCIError, basic_auth


def docker_config_auth(data: bytes, host: str) -> str | None:
    """The basic Authorization header for `host` in a `.dockerconfigjson`, if it has one."""
    try:
        config = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise OCIError(f"the .dockerconfigjson is not valid JSON ({type(err).__name__})") from err
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        # Keys are written as "host", "https://host" or "https://host/v1/".
        key_host = urlsplit(key if "://" in key else f"//{key}").netloc
        if key_host != host or not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"])).decode()
            except (ValueError, UnicodeDecodeError):
                continue
            username, _, password = decoded.partition(":")
        else:
            username, password = str(entry.get("username", "")), str(entry.get("password", ""))
        if username and password:
            return basic_auth(username, password)
    return None
