"""``python -m svensolve`` runs the `svensolve` command."""

import sys

from svensolve.cli import main

sys.exit(main())
