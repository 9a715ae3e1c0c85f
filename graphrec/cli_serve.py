"""``graphrec serve RUN_DIR``: an HTTP service and web page for one trained model of a run."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket
import sys
from pathlib import Path

from graphrec.errors import ConfigError, GraphrecError

logger = logging.getLogger("graphrec.serve")

MAX_CONNECTIONS = 1000

DATA_ROOT_HELP = (
    "folder that contains dataset folders such as ml-100k/ (default: the data folder recorded in the run's "
    "run.json, else $GRAPHREC_DATA, else ~/.cache/graphrec/data)"
)


def add_commands(commands: argparse._SubParsersAction) -> None:
    from graphrec.serve.foldin import DEFAULT_REGULARIZATION, DEFAULT_UNOBSERVED_WEIGHT

    serve = commands.add_parser(
        "serve", help="serve a finished run over HTTP: recommendations, similar items, fold-in and a web page"
    )
    serve.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run folder written by graphrec benchmark")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, reachable from this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port to listen on (default: 8000)")
    serve.add_argument("--model", metavar="LABEL", default=None,
                       help="model label to serve (default: the model with the best validation score)")
    serve.add_argument("--seed", type=int, default=None, help="seed of the model to serve (default: the run's first seed)")
    serve.add_argument("--data-root", type=Path, default=None, help=DATA_ROOT_HELP)
    serve.add_argument("--unobserved-weight", type=float, default=DEFAULT_UNOBSERVED_WEIGHT,
                       help=f"fold-in confidence of items a user has not interacted with, in [0, 1] "
                            f"(default: {DEFAULT_UNOBSERVED_WEIGHT})")
    serve.add_argument("--regularization", type=float, default=DEFAULT_REGULARIZATION,
                       help=f"fold-in ridge weight, relative to the mean squared item norm (default: {DEFAULT_REGULARIZATION})")
    serve.add_argument("--access-log", action="store_true", help="log one line per request")
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import torch
    import uvicorn
    from threadpoolctl import threadpool_limits

    from graphrec.serve.app import create_app
    from graphrec.serve.loader import load_run
    from graphrec.serve.service import RecommendationService

    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    _configure_logging()
    _check_can_listen(args.host, args.port)

    run = load_run(args.run_dir, model_label=args.model, seed=args.seed, data_root=args.data_root)
    # A request is a few microseconds of single-threaded NumPy work, so extra
    # threads only add contention with the event loop.
    torch.set_num_threads(1)
    threadpool_limits(1)
    service = RecommendationService(run, unobserved_weight=args.unobserved_weight, regularization=args.regularization)
    app = create_app(service)

    if not _is_loopback(args.host):
        logger.warning("listening on %s: the service has no authentication, so anyone who can reach it can use it",
                       args.host)
    logger.info("serving %s of run %s at http://%s:%d/", run.label, run.run_id, args.host, args.port)
    # Past MAX_CONNECTIONS open connections uvicorn responds with status 503, so a flood of clients cannot exhaust file descriptors.
    uvicorn.run(app, host=args.host, port=args.port, workers=1, log_level="info", access_log=args.access_log,
                log_config=None, limit_concurrency=MAX_CONNECTIONS)
    return 0


def _configure_logging() -> None:
    """Log INFO and above to stderr, unless the caller (a test runner, say) has configured logging."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _check_can_listen(host: str, port: int) -> None:
    """Fail early with a plain message when the address is taken, before the model is loaded."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise GraphrecError(f"invalid --host {host!r}: {err}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            raise GraphrecError(f"cannot listen on {host}:{port}: {err.strerror}; choose another --port") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
