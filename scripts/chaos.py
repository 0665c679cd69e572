#!/usr/bin/env python3
"""`make chaos`, the old way: the suite is the package scripts/chaos/
(`PYTHONPATH=scripts python3 -m chaos`, which the Makefile runs); this runs
the same with the same environment and output."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chaos.__main__ import main  # noqa: E402 (the path is set just above)

if __name__ == "__main__":
    main()
