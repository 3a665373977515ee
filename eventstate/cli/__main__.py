"""`python -m eventstate.cli`: the same as the `eventstate` command."""

from eventstate.cli.entry import main

main()
