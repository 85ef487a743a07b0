"""How long the load and fault tests run: FEED_SOAK=N runs N times their rounds (1 in CI)."""

import os

SOAK = max(1, int(os.environ.get("FEED_SOAK", "1")))
