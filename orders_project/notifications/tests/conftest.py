import pytest

from notifications.tasks import send_notification


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """Record the send tasks queued instead of sending them to the shared Redis broker."""
    calls = []

    def record(args=None, kwargs=None, **options):
        calls.append({"args": args, "kwargs": kwargs, **options})

    monkeypatch.setattr(send_notification, "apply_async", record)
    return calls


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 0
    settings.NOTIFICATION_MAX_RETRIES = 3
