"""The image-automation-controller process.

Not written yet; this package holds its reconcilers once it is.
"""
