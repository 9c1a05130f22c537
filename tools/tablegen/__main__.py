"""Entry point for `python3 -m tools.tablegen` (see gen.py)."""
import sys

from .gen import main

sys.exit(main())
