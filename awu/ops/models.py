"""What operator procedures leave behind: the audit trail of erasures."""

from __future__ import annotations

from django.db import models


class Erasure(models.Model):
    """One erasure of a person's identity data (awu.ops.erasure).

    Holds no personal data: the person's id (their Person row stays, renamed to
    the pseudonym), the pseudonym, and how many rows of each table changed.
    """

    person_id = models.BigIntegerField()
    pseudonym = models.CharField(max_length=64)
    counts = models.JSONField(default=dict, help_text="Rows changed, by table.")
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["person_id"], name="erasure_person")]

    def __str__(self) -> str:
        return f"person {self.person_id} erased as {self.pseudonym} at {self.at:%Y-%m-%d %H:%M}"
