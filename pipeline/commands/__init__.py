"""CLI sub-commands, one module each (see pipeline/cli.py)."""
