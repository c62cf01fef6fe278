"""The errors of notifications: a send the mail backend refused, an event it cannot word."""


class NotificationNotSent(Exception):
    """The mail backend refused a notification; the attempt is recorded on the row."""

    def __init__(self, notification, error: str):
        super().__init__(f"notification {notification.pk} not sent: {error}")
        self.notification = notification
        self.error = error


class MalformedEvent(ValueError):
    """The event lacks data its notification needs (it is retried, then dead-lettered)."""
