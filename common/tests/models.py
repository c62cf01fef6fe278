"""A model the test handler writes to, so a handler's writes can be seen to commit or roll back."""

from django.db import models


class HandledNote(models.Model):
    event_id = models.UUIDField()
    text = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_id", "text"], name="tests_note_once")]

    def __str__(self) -> str:
        return f"{self.event_id}: {self.text}"
