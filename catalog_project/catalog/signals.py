"""Cache invalidation on every ORM write of a restaurant or menu item (see catalog/cache.py)."""

from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog import cache
from catalog.models import MenuItem, Restaurant


@receiver([post_save, post_delete], sender=Restaurant)
def restaurant_changed(sender, instance: Restaurant, using: str, **kwargs) -> None:
    cache.invalidate_on_commit(restaurant_id=instance.pk, lists=True, using=using)


@receiver([post_save, post_delete], sender=MenuItem)
def menu_item_changed(sender, instance: MenuItem, using: str, origin=None, **kwargs) -> None:
    model_deleted = origin.model if isinstance(origin, QuerySet) else type(origin)
    if model_deleted is Restaurant:
        return  # cascade from a restaurant delete: the restaurant's own signal invalidates
    cache.invalidate_on_commit(restaurant_id=instance.restaurant_id, lists=False, using=using)
