"""The `eventstate` command line: one module per command group in `commands/`."""
