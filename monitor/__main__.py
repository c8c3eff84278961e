"""`python -m monitor` runs the tonewatch command line."""

import sys

from monitor.cli import main

sys.exit(main())
