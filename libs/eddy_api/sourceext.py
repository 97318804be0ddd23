"""The source.extensions.fluxcd.io/v1beta1 kind: ArtifactGenerator.

A generator composes ExternalArtifacts from the artifacts of other sources by copy
rules, so one repository can feed many Kustomizations with only what each needs.
"""

# prop() and its wrappers return dataclasses.field(...), which RUF009 cannot see.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from eddy_api.common import (
    Condition,
    conditions,
    last_handled_reconcile_at,
    observed_generation,
)
from eddy_api.resource import AGE_COLUMN, READY_COLUMN, STATUS_COLUMN, KindInfo, Resource
from eddy_api.schema import NOT_HONOURED, prop

GROUP = "source.extensions.fluxcd.io"
VERSION = "v1beta1"
COMPONENT = "source-controller"
CATEGORIES = ("all", "fluxcd", "fluxcd-sources")
GENERATOR_LABEL = "source.extensions.fluxcd.io/generator"
GENERATOR_SOURCE_KINDS = (
    "Bucket", "GitRepository", "OCIRepository", "HelmChart", "ExternalArtifact",
)  # fmt: skip
COPY_STRATEGIES = ("Overwrite", "Merge", "Extract")
ALIAS = r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$"


@dataclass
class CommonMetadata:
    """Labels and annotations set on every generated ExternalArtifact."""

    annotations: dict[str, str] | None = prop("Annotations to add.")
    labels: dict[str, str] | None = prop("Labels to add.")


@dataclass
class GeneratorSourceReference:
    """A source whose artifact the generator reads, under an alias."""

    alias: str = prop(
        "Name of the source in copy rules (`@<alias>/...`); unique in the generator.",
        required=True, zero=str, pattern=ALIAS, max_length=63,
    )  # fmt: skip
    name: str = prop("Name of the source.", required=True, zero=str, max_length=253)
    namespace: str | None = prop(
        "Namespace of the source; the generator's own when empty.", max_length=63
    )
    kind: str = prop("Kind of the source.", required=True, zero=str, enum=GENERATOR_SOURCE_KINDS)


@dataclass
class CopyOperation:
    """Files copied from a source into the generated artifact."""

    from_: str = prop(
        "`@<alias>/<path or glob>`: a file, a directory (`dir/` copies it as a "
        "subdirectory), or a glob (`dir/**` copies the contents of dir).",
        json="from", required=True, zero=str,
        pattern=r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)$", max_length=1024,
    )  # fmt: skip
    to: str = prop(
        "`@artifact/<path>`: where in the generated artifact; a trailing `/` copies into "
        "that directory.",
        required=True, zero=str, pattern=r"^@(artifact)/(.*)$", max_length=1024,
    )  # fmt: skip
    exclude: list[str] | None = prop(
        "Globs of files to leave out, relative to the non-glob part of `from`; a pattern "
        "without `/` matches file names at any depth.",
        max_items=100,
    )
    strategy: str | None = prop(
        "`Overwrite` (the default: later copies replace files), `Merge` (YAML maps merged "
        "as Helm merges values files) or `Extract` (unpack .tar.gz/.tgz files).",
        enum=COPY_STRATEGIES,
    )


@dataclass
class OutputArtifact:
    """One ExternalArtifact to generate."""

    name: str = prop("Name of the ExternalArtifact.", required=True, zero=str, max_length=253)
    revision: str | None = prop(
        "`@<alias>`: use that source's revision; `latest@sha256:<digest of the content>` "
        "when empty.",
        pattern=r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)$", max_length=64,
    )  # fmt: skip
    origin_revision: str | None = prop(
        "`@<alias>`: record that source's origin revision as the artifact's "
        "`org.opencontainers.image.revision`.",
        pattern=r"^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)$", max_length=64,
    )  # fmt: skip
    copy: list[CopyOperation] = prop(
        "Copy operations, in order; later ones overwrite earlier ones.",
        required=True, zero=list,
    )  # fmt: skip


@dataclass
class ArtifactGeneratorSpec:
    """Desired state of an ArtifactGenerator."""

    common_metadata: CommonMetadata | None = prop(
        "Labels and annotations for every generated ExternalArtifact."
    )
    sources: list[GeneratorSourceReference] = prop(
        "The sources to read, each under an alias.", required=True, zero=list, max_items=1000
    )
    path_pattern: str | None = prop(
        "`@<alias>/<pattern>` with named captures, generating one artifact per match. "
        + NOT_HONOURED,
        honoured=False, max_length=1024,
    )  # fmt: skip
    artifacts: list[OutputArtifact] = prop(
        "The ExternalArtifacts to generate.", required=True, zero=list, max_items=1000
    )


@dataclass
class ExternalArtifactReference:
    """A generated ExternalArtifact and the digest of its current artifact."""

    name: str = prop("Name of the ExternalArtifact.", required=True, zero=str)
    namespace: str = prop("Its namespace.", required=True, zero=str)
    digest: str = prop("Digest of its artifact.", required=True, zero=str)
    filename: str = prop("File name of its artifact in storage.", required=True, zero=str)


@dataclass
class ArtifactGeneratorStatus:
    """Observed state of an ArtifactGenerator."""

    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    inventory: list[ExternalArtifactReference] | None = prop(
        "The ExternalArtifacts generated, with their digests."
    )
    observed_sources_digest: str | None = prop(
        "Digest over the revisions of every source, as last built."
    )
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class ArtifactGenerator(Resource):
    """Composes ExternalArtifacts from the artifacts of other sources by copy rules."""

    INFO = KindInfo(
        group=GROUP,
        kind="ArtifactGenerator",
        plural="artifactgenerators",
        versions=(VERSION,),
        storage_version=VERSION,
        component=COMPONENT,
        description="Composes ExternalArtifacts from the artifacts of other sources by copy rules.",
        short_names=("ag",),
        categories=CATEGORIES,
        printer_columns=(AGE_COLUMN, READY_COLUMN, STATUS_COLUMN),
    )

    spec: ArtifactGeneratorSpec = prop("Desired state.", zero=ArtifactGeneratorSpec)
    status: ArtifactGeneratorStatus = prop("Observed state.", zero=ArtifactGeneratorStatus)


KINDS: tuple[type[Resource], ...] = (ArtifactGenerator,)
