"""Serving a finished run: the HTTP API, fold-in of new interactions and the web page.

``graphrec serve RUN_DIR`` loads one trained model of a run folder
(:mod:`graphrec.serve.loader`), precomputes its final user and item
representations (:mod:`graphrec.serve.tables`) and serves requests through
the FastAPI app of :mod:`graphrec.serve.app`.
"""
