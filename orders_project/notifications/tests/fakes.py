"""A mail server that fails, for the send paths' tests."""

from notifications import sending


class MailServerDown(ConnectionError):
    pass


def failing_send_mail(calls: list, failures: int | None = None):
    """Return a send_mail that raises for the first `failures` calls (all if None)."""
    real_send_mail = sending.send_mail

    def send_mail(*args, **kwargs):
        calls.append(args)
        if failures is None or len(calls) <= failures:
            raise MailServerDown("connection refused")
        return real_send_mail(*args, **kwargs)

    return send_mail
