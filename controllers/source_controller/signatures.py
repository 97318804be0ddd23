"""spec.verify of the OCI sources: which settings eddy can check, and the cosign check itself.

OCIRepository and HelmChart (from an OCI HelmRepository) verify the same way:
cosign signatures against the public keys of spec.verify.secretRef, the verdict
written to the SourceVerified condition.
"""

from __future__ import annotations

from typing import Any

from eddy_api.common import SOURCE_VERIFIED, Reason
from eddy_oci.client import OCIError, RegistryClient
from eddy_runtime import conditions

from .failures import SourceError, invalid_spec
from .reconcile import SourceAttempt
from .secrets import read_secret


def refuse_unsupported(verify: dict[str, Any] | None) -> None:
    """Stall on what eddy cannot verify: notation signatures and keyless cosign."""
    if verify is None:
        return
    provider = verify.get("provider", "cosign")
    if provider != "cosign":
        raise invalid_spec(
            f"spec.verify.provider '{provider}' is not supported by eddy; sign with cosign and "
            "set spec.verify.provider: cosign",
            Reason.VERIFICATION_ERROR,
        )
    if not (verify.get("secretRef") or {}).get("name"):
        raise invalid_spec(
            "keyless cosign verification is not supported by eddy; put the cosign public "
            "keys in a Secret and set spec.verify.secretRef",
            Reason.VERIFICATION_ERROR,
        )


async def verify_cosign(
    attempt: SourceAttempt, client: RegistryClient, repository: str, digest: str, verified: str
) -> None:
    """Check a cosign signature of `repository@digest` with the keys of spec.verify.secretRef.

    SourceVerified becomes True with the message `verified`, or False with a
    VerificationError; registry failures other than a missing or bad signature
    are raised as OCIError for the caller to word.
    """
    # Imported here: cryptography and its OpenSSL add ~9 MiB to every source-controller,
    # and only a verified source needs them.
    from eddy_oci import cosign

    secret = str(attempt.spec["verify"]["secretRef"]["name"])
    data = await read_secret(attempt.manager.client, attempt.namespace, secret)
    try:
        keys = cosign.load_public_keys(data)
        await cosign.verify(client, repository, digest, keys)
    except OCIError as err:
        if not (isinstance(err, cosign.VerificationFailed) or err.status == 0):
            raise
        message = f"failed to verify the signature using provider 'cosign': {err.message}"
        conditions.set_condition(attempt.status, SOURCE_VERIFIED, conditions.FALSE,
                                 Reason.VERIFICATION_ERROR, message,
                                 attempt.generation)  # fmt: skip
        # SourceVerified=False says it; no FetchFailed next to it.
        raise SourceError(Reason.VERIFICATION_ERROR, message) from err
    conditions.set_condition(attempt.status, SOURCE_VERIFIED, conditions.TRUE, Reason.SUCCEEDED,
                             verified, attempt.generation)  # fmt: skip
