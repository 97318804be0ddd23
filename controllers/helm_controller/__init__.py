"""The helm-controller process.

Not written yet; this package holds its reconcilers once it is.
"""
