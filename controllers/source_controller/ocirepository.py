"""The OCIRepository reconciler: an artifact in a container registry becomes a source artifact.

Steps, in order: check the stored artifact, ask the registry where the ref points
(a HEAD, or the tag list for semver), verify the signature when asked, and pull
the manifest and its layer only when the digest is new; then extract (or copy) the
layer into storage with the ignore rules applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from eddy_api.common import SOURCE_VERIFIED, Reason
from eddy_artifacts.errors import ArtifactError
from eddy_artifacts.extract import extract_archive
from eddy_artifacts.ignore import source_ignore_rules
from eddy_artifacts.limits import DEFAULT_MAX_SIZE
from eddy_oci.auth import docker_config_auth
from eddy_oci.client import OCIError, RegistryClient
from eddy_oci.pull import NotAnArtifact, list_tags, pull_layer, resolve_tag
from eddy_oci.reference import Reference, parse_reference
from eddy_runtime import Controller, Manager, Obj, Step, conditions
from eddy_runtime.secrets import read_secret as read_secret_data
from eddy_runtime.semver import InvalidVersion, parse_range, versions_of

from .failures import SourceError, fetch_failed, invalid_spec
from .kinds import OCI_REPOSITORIES, SERVICE_ACCOUNTS
from .reconcile import SourceAttempt, SourceReconciler, duration_of
from .secrets import read_proxy, read_secret
from .signatures import refuse_unsupported, verify_cosign
from .storage import Storage
from .tls import tls_context

# Flux's reasons for OCIRepository failures.
OCI_PULL_FAILED = "OCIArtifactPullFailed"
OCI_LAYER_OPERATION_FAILED = "OCIArtifactLayerOperationFailed"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MAX_LAYER_SIZE = DEFAULT_MAX_SIZE
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class OCIRepositoryAttempt(SourceAttempt):
    def __init__(self, reconciler: OCIRepositoryReconciler, obj: Obj) -> None:
        super().__init__(reconciler, obj)
        self.url = str(self.spec.get("url", ""))
        self.ref: dict[str, Any] = self.spec.get("ref") or {}
        self.selector: dict[str, Any] = self.spec.get("layerSelector") or {}
        self.media_type = str(self.selector.get("mediaType") or "")
        self.operation = str(self.selector.get("operation") or "extract")
        self.revision = ""
        self.digest = ""
        self.manifest: dict[str, Any] = {}
        self.layer: bytes | None = None

    def steps(self) -> Sequence[Step]:
        return [
            Step("storage", self.reconcile_storage, Reason.STORAGE_OPERATION_FAILED),
            Step("source", self.reconcile_source, OCI_PULL_FAILED),
            Step("artifact", self.reconcile_artifact, OCI_LAYER_OPERATION_FAILED),
        ]

    # -- source -------------------------------------------------------------

    async def reconcile_source(self) -> None:
        """Resolve the ref to a digest; verify; pull only when the digest is new."""
        location = self._location()
        self._refuse_unsupported()
        timeout = duration_of(self.spec, "timeout", "60s")
        basic = await self._credentials(location.host)
        tls = await self._tls()
        proxy, proxy_auth = await self._proxy()
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout), proxy=proxy, proxy_auth=proxy_auth
        )
        async with session, self._registry_errors(location, OCI_PULL_FAILED):
            base_url = location.base_url(bool(self.spec.get("insecure")))
            client = RegistryClient(session, base_url, basic, tls, proxied=proxy is not None)
            repository = location.repository
            self.digest, tag = await self._resolve(client, repository)
            self.revision = f"{tag}@{self.digest}" if tag else self.digest
            await self._verify(client, repository)
            if self._up_to_date():
                self.message = f"stored artifact for revision '{self.revision}'"
                return
            self.manifest, _, self.layer = await pull_layer(
                client, repository, self.digest, self.media_type, MAX_LAYER_SIZE
            )

    def _location(self) -> Reference:
        try:
            location = parse_reference(self.url, default_tag="")
        except OCIError as err:
            raise invalid_spec(f"URL validation failed for '{self.url}': {err.message}",
                               Reason.INVALID_URL) from err  # fmt: skip
        if location.tag or location.digest:
            extra = location.tag or location.digest
            raise invalid_spec(
                f"URL validation failed for '{self.url}': the URL must not contain a tag or "
                f"digest; remove '{extra}' and set spec.ref instead",
                Reason.INVALID_URL,
            )
        return location

    def _refuse_unsupported(self) -> None:
        provider = str(self.spec.get("provider") or "generic")
        if provider != "generic":
            raise invalid_spec(
                f"spec.provider '{provider}' is not supported by eddy; use 'generic' with "
                "spec.secretRef or spec.serviceAccountName"
            )
        refuse_unsupported(self.spec.get("verify"))

    async def _credentials(self, host: str) -> str | None:
        """Basic credentials for `host`: spec.secretRef, else the ServiceAccount's pull secrets."""
        secret = (self.spec.get("secretRef") or {}).get("name")
        if secret:
            data = await read_secret(self.manager.client, self.namespace, str(secret))
            config = data.get(".dockerconfigjson")
            if config is None:
                raise self._auth_error(
                    f"secret '{self.namespace}/{secret}' has no '.dockerconfigjson'; create it "
                    "with 'kubectl create secret docker-registry'"
                )
            basic = self._docker_auth(config, host, str(secret))
            if basic is None:
                raise self._auth_error(
                    f"secret '{self.namespace}/{secret}' has no credentials for registry {host}"
                )
            return basic
        account = self.spec.get("serviceAccountName")
        if not account:
            return None
        sa = await self.manager.client.get_or_none(SERVICE_ACCOUNTS, str(account), self.namespace)
        if sa is None:
            raise self._auth_error(
                f"serviceaccount '{self.namespace}/{account}' not found; create it or fix "
                "spec.serviceAccountName"
            )
        for pull in sa.get("imagePullSecrets") or []:
            name = str((pull or {}).get("name", ""))
            pull_data = await read_secret_data(self.manager.client, self.namespace, name)
            if pull_data and pull_data.get(".dockerconfigjson"):
                basic = self._docker_auth(pull_data[".dockerconfigjson"], host, name)
                if basic:
                    return basic
        return None

    def _docker_auth(self, config: bytes, host: str, secret: str) -> str | None:
        try:
            return docker_config_auth(config, host)
        except OCIError as err:
            raise self._auth_error(f"secret '{self.namespace}/{secret}': {err.message}") from err

    @staticmethod
    def _auth_error(message: str) -> SourceError:
        return fetch_failed(Reason.AUTHENTICATION_FAILED, message)

    async def _tls(self) -> ssl.SSLContext | None:
        name = (self.spec.get("certSecretRef") or {}).get("name")
        if not name:
            return None
        return tls_context(await read_secret(self.manager.client, self.namespace, str(name)))

    async def _proxy(self) -> tuple[str | None, aiohttp.BasicAuth | None]:
        name = (self.spec.get("proxySecretRef") or {}).get("name")
        if not name:
            return None, None
        proxy = await read_proxy(self.manager.client, self.namespace, str(name))
        if proxy.username is None:
            return proxy.address, None
        return proxy.address, aiohttp.BasicAuth(proxy.username, proxy.password or "")

    async def _resolve(self, client: RegistryClient, repository: str) -> tuple[str, str]:
        """The digest the ref points at, and the tag it was found by ('' for a digest ref)."""
        digest = str(self.ref.get("digest") or "")
        if digest:
            if not _DIGEST.fullmatch(digest):
                raise invalid_spec(f"spec.ref.digest '{digest}' is not 'sha256:<64 hex digits>'")
            return digest, ""
        if self.ref.get("semver"):
            tag = await self._semver_tag(client, repository)
        else:
            tag = str(self.ref.get("tag") or "latest")
        return await resolve_tag(client, repository, tag), tag

    async def _semver_tag(self, client: RegistryClient, repository: str) -> str:
        wanted = str(self.ref["semver"])
        try:
            versions = parse_range(wanted)
        except InvalidVersion as err:
            raise invalid_spec(f"spec.ref.semver: {err}") from err
        pattern = str(self.ref.get("semverFilter") or "")
        try:
            keep = re.compile(pattern) if pattern else None
        except re.error as err:
            raise invalid_spec(
                f"spec.ref.semverFilter '{pattern}' is not a valid regex: {err}"
            ) from err
        try:
            tags = await list_tags(client, repository)
        except OCIError as err:
            raise fetch_failed(
                Reason.READ_OPERATION_FAILED,
                f"failed to determine the artifact tag for '{self.url}': {err.message}",
            ) from err
        tags = [t for t in tags if keep is None or keep.search(t)]
        chart = self.media_type == HELM_CHART_LAYER
        # Helm pushes '+' in versions as '_', which OCI tags cannot hold.
        candidates = versions_of(tags, lambda t: t.replace("_", "+") if chart else t)
        best = versions.best(candidates)
        if best is None:
            raise fetch_failed(
                Reason.READ_OPERATION_FAILED,
                f"failed to determine the artifact tag for '{self.url}': no tag matches semver "
                f"'{wanted}'"
                + (f" and filter '{pattern}'" if pattern else "")
                + f" among {len(tags)} tags",
            )
        return candidates[best]

    async def _verify(self, client: RegistryClient, repository: str) -> None:
        """Check the cosign signature of a new digest; keep the verdict while nothing changed."""
        verify = self.spec.get("verify")
        if verify is None:
            conditions.delete(self.status, SOURCE_VERIFIED)
            return
        current = conditions.get(self.status, SOURCE_VERIFIED) or {}
        same = (
            (self.status.get("artifact") or {}).get("revision") == self.revision
            and current.get("status") == conditions.TRUE
            and current.get("observedGeneration") == self.generation
        )
        if same:
            return
        await verify_cosign(self, client, repository, self.digest,
                            f"verified signature of revision {self.revision}")  # fmt: skip

    def _up_to_date(self) -> bool:
        """Same digest, same content settings, artifact on disk: nothing to pull."""
        current = self.status.get("artifact")
        return bool(
            current
            and current.get("revision") == self.revision
            and self.storage.exists(current)
            and self.status.get("observedIgnore") == self.spec.get("ignore")
            and self.status.get("observedLayerSelector") == self.spec.get("layerSelector")
        )

    @contextlib.asynccontextmanager
    async def _registry_errors(self, location: Reference, reason: str) -> AsyncIterator[None]:
        """Registry and network failures as messages that say where and what to check."""
        host = location.host
        try:
            yield
        except NotAnArtifact as err:
            raise fetch_failed(OCI_LAYER_OPERATION_FAILED, err.message) from err
        except OCIError as err:
            if err.status == 407:
                raise fetch_failed(
                    reason,
                    "the proxy in spec.proxySecretRef refused the request (HTTP 407); check "
                    "its username and password",
                ) from err
            if err.status in (401, 403):
                hint = "check spec.secretRef" if self._has_credentials() else "set spec.secretRef"
                if (self.spec.get("proxySecretRef") or {}).get("name"):
                    hint += " or the proxy's credentials in spec.proxySecretRef"
                raise fetch_failed(Reason.AUTHENTICATION_FAILED,
                                   f"{err.message.split(';')[0]}; {hint}") from err  # fmt: skip
            raise fetch_failed(
                reason, f"failed to pull artifact from '{self.url}': {err.message}"
            ) from err
        except aiohttp.ClientProxyConnectionError as err:
            raise fetch_failed(
                reason, f"cannot reach the proxy in spec.proxySecretRef: {err}"
            ) from err
        except aiohttp.ClientConnectorCertificateError as err:
            raise fetch_failed(reason, f"TLS verification of registry {host} failed; add its "
                                       "CA as ca.crt to spec.certSecretRef") from err  # fmt: skip
        except (aiohttp.ClientSSLError, ssl.SSLError) as err:
            raise fetch_failed(
                reason,
                f"TLS with registry {host} failed ({err}); for a plain-HTTP registry set "
                "spec.insecure: true",
            ) from err
        except TimeoutError as err:
            raise fetch_failed(
                reason, f"registry {host} did not answer within spec.timeout"
            ) from err
        except aiohttp.ClientError as err:
            raise fetch_failed(reason, f"cannot reach registry {host}: {err}") from err

    def _has_credentials(self) -> bool:
        return bool((self.spec.get("secretRef") or {}).get("name") or
                    self.spec.get("serviceAccountName"))  # fmt: skip

    # -- artifact -----------------------------------------------------------

    async def reconcile_artifact(self) -> None:
        """Extract (or copy) the pulled layer, apply ignore rules, store; or nothing new."""
        if self.layer is None:
            return
        layer_file = self.scratch / "layer.tgz"
        await asyncio.to_thread(layer_file.write_bytes, self.layer)
        if self.operation == "copy":
            rel = self.storage.path_for(OCI_REPOSITORIES.kind, self.namespace, self.name,
                                        f"{self.digest}.tgz")  # fmt: skip
            self.artifact = await self.storage.store_file(rel, layer_file, self.revision)
        else:
            tree = self.scratch / "tree"
            try:
                await asyncio.to_thread(extract_archive, layer_file, tree)
            except (ArtifactError, OSError) as err:
                raise fetch_failed(
                    OCI_LAYER_OPERATION_FAILED,
                    f"failed to extract layer contents from artifact: {err}",
                ) from err
            rules = await asyncio.to_thread(source_ignore_rules, tree, self.spec.get("ignore"))
            rel = self.storage.path_for(OCI_REPOSITORIES.kind, self.namespace, self.name,
                                        f"{self.digest}.tar.gz")  # fmt: skip
            self.artifact = await self.storage.archive(rel, tree, self.revision, rules.ignored)
        annotations = self.manifest.get("annotations")
        if isinstance(annotations, dict) and annotations:
            self.artifact["metadata"] = {str(k): str(v) for k, v in annotations.items()}
        self._publish(annotations if isinstance(annotations, dict) else {})

    def _publish(self, annotations: dict[str, Any]) -> None:
        assert self.artifact is not None
        self.status["artifact"] = self.artifact
        self.status["url"] = self.artifact["url"]
        observed = {
            "observedIgnore": self.spec.get("ignore"),
            "observedLayerSelector": self.spec.get("layerSelector"),
        }
        for field, value in observed.items():
            if value is None:
                self.status.pop(field, None)
            else:
                self.status[field] = value
        self.message = f"stored artifact for revision '{self.revision}'"
        event = f"stored artifact with revision '{self.revision}' from '{self.url}'"
        source = annotations.get("org.opencontainers.image.source")
        origin = annotations.get("org.opencontainers.image.revision")
        if source and origin:
            event += f", origin source '{source}', origin revision '{origin}'"
        self.event_message = event


class OCIRepositoryReconciler(SourceReconciler):
    resource = OCI_REPOSITORIES

    def attempt(self, obj: Obj) -> SourceAttempt:
        return OCIRepositoryAttempt(self, obj)


def controller(manager: Manager, storage: Storage) -> Controller:
    return Controller(
        name="ocirepository",
        resource=OCI_REPOSITORIES,
        reconciler=OCIRepositoryReconciler(manager, storage),
    )
