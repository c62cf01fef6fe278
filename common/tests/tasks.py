"""A task of the tests (found by the Celery app's autodiscovery of `tasks`): it logs one line."""

import logging

from celery import shared_task

from food_common.request_id import get_request_id

logger = logging.getLogger(__name__)


@shared_task(name="tests.log_a_line", ignore_result=True)
def log_a_line(text: str) -> str:
    """Log `text` and return the request id the task runs under (its log record carries it too)."""
    logger.info("task says %s", text)
    return get_request_id()
