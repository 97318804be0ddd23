"""Helm for the HelmRepository and HelmChart reconcilers: HTTP, index, packaging.

Split by job so each piece can be read and tested on its own.
"""
