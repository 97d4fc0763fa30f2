"""``python -m smsverify …`` is the ``smsverify`` console script."""

import sys

from .cli import main

sys.exit(main())
