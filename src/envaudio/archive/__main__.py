"""`python -m envaudio.archive IN --out OUT ...`: the same as `envaudio analyze`."""

import sys

from .command import main

sys.exit(main())
