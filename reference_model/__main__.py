"""`python -m reference_model <command>`."""

import sys

from .cli import main

sys.exit(main())
