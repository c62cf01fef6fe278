from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"

    def ready(self) -> None:
        from catalog import signals  # noqa: F401 - connects the cache-invalidation receivers
