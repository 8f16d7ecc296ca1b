"""`python -m sentinel <sentinel.conf>`: run a sentinel (same contract as `redis-sentinel`)."""

import sys

from sentinel.runtime.main import main

sys.exit(main())
