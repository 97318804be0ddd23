"""Typed objects for every Flux-compatible kind that eddy serves.

The CRDs in manifests/crds are generated from here, so this package is the one
source of truth for field names, defaults and validation.
"""
