"""CLI command groups, one module each; `eventstate.cli.main` registers them."""
