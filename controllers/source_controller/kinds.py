"""Where the source kinds live in the API, for the dynamic client and the manager.

The typed definitions are in eddy_api; the reconcilers read plain dicts.
"""

from __future__ import annotations

from eddy_api import sourceext
from eddy_api.source import GROUP, VERSION
from eddy_runtime.resources import Resource

GIT_REPOSITORIES = Resource(GROUP, VERSION, "gitrepositories", "GitRepository")
HELM_REPOSITORIES = Resource(GROUP, VERSION, "helmrepositories", "HelmRepository")
HELM_CHARTS = Resource(GROUP, VERSION, "helmcharts", "HelmChart")
OCI_REPOSITORIES = Resource(GROUP, VERSION, "ocirepositories", "OCIRepository")
# Read for their image pull secrets (OCIRepository spec.serviceAccountName).
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
EXTERNAL_ARTIFACTS = Resource(GROUP, VERSION, "externalartifacts", "ExternalArtifact")
ARTIFACT_GENERATORS = Resource(
    sourceext.GROUP, sourceext.VERSION, "artifactgenerators", "ArtifactGenerator"
)
BUCKETS = Resource(GROUP, VERSION, "buckets", "Bucket")
