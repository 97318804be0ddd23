"""The `eddy` command line: install, check and explain eddy in a cluster.

`flux` already drives eddy's objects; `eddy` does what only eddy can.
"""

from importlib import metadata

try:
    __version__ = metadata.version("eddy")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.1.0"
