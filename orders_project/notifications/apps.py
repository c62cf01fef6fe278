from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    event_queue = "notifications"  # its worker runs this app's event handlers and tasks
