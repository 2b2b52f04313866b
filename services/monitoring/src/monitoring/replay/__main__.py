"""`python -m monitoring.replay`: the SLA repair (see monitoring.replay.repair)."""

import sys

from monitoring.replay.repair import main

sys.exit(main())
