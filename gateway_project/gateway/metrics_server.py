"""Serve the gateway's Prometheus metrics on their own port (never through the public one)."""

import logging

from prometheus_client import start_http_server

logger = logging.getLogger(__name__)


def start_metrics_server(port: int, address: str) -> None:
    """Start the metrics endpoint once per process; a second server process logs and goes on.

    With more than one server process (WEB_WORKERS > 1) only the first binds the port: scrape
    figures are then one process's; run one process per pod, or set PROMETHEUS_MULTIPROC_DIR.
    """
    try:
        start_http_server(port, addr=address)
    except OSError as exc:
        logger.warning("gateway metrics not served on %s:%s: %s", address, port, exc)
