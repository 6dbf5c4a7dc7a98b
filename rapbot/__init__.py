"""The `rapbot` command line: one Typer app that mounts each package's own commands. The top layer
(docs/architecture.md)."""
