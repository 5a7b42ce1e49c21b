"""`python -m explorer ...`: see explorer/cli/main.py."""

from explorer.cli.main import main

raise SystemExit(main())
