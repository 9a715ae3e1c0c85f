"""graphrec.train."""
