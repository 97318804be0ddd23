"""`python -m eddy_cli`: the same as the `eddy` command."""

from eddy_cli.main import main

main()
