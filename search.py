#!/usr/bin/env python
"""lesion-nas command line: `python search.py VERB ...` (the verbs live in the cli package)."""

import sys

from cli.main import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
