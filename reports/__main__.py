"""``python -m reports``: the ``tune`` command with every option (see ``reports.cli``)."""

import sys

from .cli import main

sys.exit(main())
