"""OCI registries: one client for the distribution API, and Flux's artifact format on it.

The `eddy push artifact` command writes artifacts with it and OCIRepository
sources read them with it, so both agree byte for byte on what an artifact is.
"""

from eddy_oci.artifact import (
    CONFIG_MEDIA_TYPE,
    CONTENT_MEDIA_TYPE,
    CREATED_ANNOTATION,
    REVISION_ANNOTATION,
    SOURCE_ANNOTATION,
    Pushed,
    content_layer,
    normalize_revision,
    pull_artifact,
    push_artifact,
)
from eddy_oci.client import (
    MANIFEST_MEDIA_TYPES,
    OCI_MANIFEST,
    OCIError,
    RegistryClient,
    basic_auth,
)
from eddy_oci.reference import Reference, parse_reference

__all__ = [
    "CONFIG_MEDIA_TYPE",
    "CONTENT_MEDIA_TYPE",
    "CREATED_ANNOTATION",
    "MANIFEST_MEDIA_TYPES",
    "OCI_MANIFEST",
    "REVISION_ANNOTATION",
    "SOURCE_ANNOTATION",
    "OCIError",
    "Pushed",
    "Reference",
    "RegistryClient",
    "basic_auth",
    "content_layer",
    "normalize_revision",
    "parse_reference",
    "pull_artifact",
    "push_artifact",
]
