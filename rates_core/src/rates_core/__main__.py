"""``python -m rates_core``: the ``rates`` command line."""

import sys

from rates_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
