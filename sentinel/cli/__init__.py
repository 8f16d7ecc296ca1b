"""The `hasentinel` command line (typer + rich)."""
