"""`python -m explorer ...`: see explorer/cli.py."""

from explorer.cli import main

raise SystemExit(main())
