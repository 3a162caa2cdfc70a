"""`python -m streams.cli ...`: the `sunlight` command (workers are spawned this way)."""

import sys

from streams.cli import main

sys.exit(main())
