"""`python -m eventstate.cli`: the same as the `eventstate` command."""

from eventstate.cli.main import main

main()
