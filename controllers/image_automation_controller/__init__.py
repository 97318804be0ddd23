"""The image-automation-controller: ImageRepository, ImagePolicy, ImageUpdateAutomation.

One process scans registries, picks the latest tag per policy and writes it to Git.
"""
