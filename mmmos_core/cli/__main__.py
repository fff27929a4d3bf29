"""`python -m mmmos_core.cli`: the `mmmos` command."""

import sys

from . import main

sys.exit(main())
