"""The command line, `explorer <command>` (or `python -m explorer`): one module per command, the only place argparse
lives."""
