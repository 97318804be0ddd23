"""The helm-controller: keeps Helm releases installed from HelmRelease objects.

It declares HelmCharts for the source-controller, downloads their artifacts and runs
the pinned helm binary to install, upgrade, test, roll back and uninstall.
"""
