"""The kustomize-controller: Flux's Kustomization, built with kustomize and kept applied.

It reads sources only through their status.artifact and applies with server-side apply.
"""
