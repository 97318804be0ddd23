"""The `eddy` command line.

Small conveniences around a running eddy installation.
"""
