"""``python -m agent.commission CONFIG …`` = ``ecogate agent commission CONFIG …``."""

import sys

from agent.commission.cli import main

sys.exit(main(sys.argv[1:]))
