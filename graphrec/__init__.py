"""graphrec: multi-scenario recommendation on heterogeneous graphs."""

__version__ = "0.1.0"
