"""graphrec.graph."""
