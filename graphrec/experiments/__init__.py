"""graphrec.experiments."""
