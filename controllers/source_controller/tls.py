"""TLS material from a Secret (`ca.crt`, `tls.crt`, `tls.key`) as an SSL context.

Helm repositories and OCI registries read the same keys from certSecretRef; one
loader makes a bad certificate read the same for every kind.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from eddy_api.common import Reason

from .failures import SourceError


def tls_context(data: dict[str, bytes]) -> ssl.SSLContext | None:
    ca, cert, key = data.get("ca.crt"), data.get("tls.crt"), data.get("tls.key")
    if not (ca or cert):
        return None
    context = ssl.create_default_context()
    try:
        if ca:
            context.load_verify_locations(cadata=ca.decode())
        if cert and key:
            with tempfile.TemporaryDirectory(prefix="eddy-tls-") as tmp:
                cert_file, key_file = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
                cert_file.write_bytes(cert)
                key_file.write_bytes(key)
                key_file.chmod(0o600)
                context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
        raise SourceError(
            Reason.AUTHENTICATION_FAILED,
            f"the TLS certificates in the Secret are not valid PEM: {err}",
            condition="FetchFailed",
        ) from err
    return context
