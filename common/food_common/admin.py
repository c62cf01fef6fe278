"""What every service's admin shares: records of what happened, shown as they are."""

import json

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html


class RecordAdmin(admin.ModelAdmin):
    """The admin of rows that record what happened (events, messages sent, money moved): view only.

    No add, no change form, no delete. What may be done with a record (replay, refund, send again)
    is an admin action declared with `permissions=["operate"]`: it is allowed to the holders of the
    model's change permission, which no form uses here.
    """

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_operate_permission(self, request) -> bool:
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")


def pretty_json(value) -> str:
    """Return `value` as indented JSON in a <pre>, for a read-only field of an admin page."""
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder)
    return format_html("<pre>{}</pre>", text)
