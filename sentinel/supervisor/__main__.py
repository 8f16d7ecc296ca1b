"""`python -m sentinel.supervisor <host config> [--check]` (same as `hasentinel supervise`)."""

import sys

from sentinel.supervisor.runner import main

sys.exit(main())
