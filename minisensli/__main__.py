"""`python -m minisensli` is the `minisensli` command."""

import sys

from .cli import main

sys.exit(main())
