"""The artifact format that sources publish and consumers fetch.

Build, digest, verify and safely extract tar.gz artifacts in one place.
"""
