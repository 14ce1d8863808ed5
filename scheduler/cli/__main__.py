"""`python -m scheduler.cli`: the `tsched` command without its console script."""

import sys

from scheduler.cli import main

sys.exit(main())
