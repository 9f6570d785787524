"""What the webhook endpoint keeps besides the ledger records themselves."""

from __future__ import annotations

from django.db import models

from ledger.models import Source


class DeadLetter(models.Model):
    """An authentic delivery that could not be mapped, kept for replay after a fix."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="dead_letters")
    vendor = models.CharField(max_length=40)
    received_at = models.DateTimeField()
    url = models.CharField(max_length=2000, blank=True)
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    error = models.TextField()
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_result = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["vendor", "received_at"])]

    def __str__(self) -> str:
        return f"{self.vendor} delivery at {self.received_at:%Y-%m-%d %H:%M} ({self.error[:60]})"


class IgnoredDeliveries(models.Model):
    """How many authentic deliveries of a kind were acknowledged and ignored."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)
    count = models.BigIntegerField(default=0)
    last_seen_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "ignored deliveries"
        constraints = [
            models.UniqueConstraint(fields=["source", "reason"], name="ignored_source_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.reason} x{self.count}"
