"""graphrec: multi-scenario recommendation on heterogeneous graphs."""

import os

# DGL imports ogb, whose version check contacts PyPI from a background thread
# on import. Turn it off unless the user has set OUTDATED_IGNORE already.
os.environ.setdefault("OUTDATED_IGNORE", "1")

__version__ = "0.1.0"
