"""Helm for the helm-controller and `eddy plan`: the pinned Helm, values, release records.

Both compose a HelmRelease's values, run helm and read the records Helm stores
the same way, because both use this package.
"""
