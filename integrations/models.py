"""What the webhook endpoint keeps besides the ledger records themselves."""

from __future__ import annotations

from django.db import models

from ledger.models import Identity, Person, Source


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


class MetricSeries(models.Model):
    """The last value seen of one cumulative OTLP metric series, per source.

    Backs ``otlp_metrics.SeriesStore``. Rows are locked (``SELECT ... FOR UPDATE``)
    in the transaction that stores the usage derived from the new point, so two
    concurrent exports of the same series cannot both count the same increase.
    A row whose ``time_unix_nano`` is null is a placeholder taken only to hold the
    lock for a series seen for the first time.
    """

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=100, help_text="otlp_metrics.series_key(...)")
    metric = models.CharField(max_length=200, blank=True)
    time_unix_nano = models.BigIntegerField(null=True, blank=True)
    value = models.DecimalField(max_digits=60, decimal_places=30, null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "metric series"
        constraints = [
            models.UniqueConstraint(fields=["source", "key"], name="metricseries_source_key"),
        ]

    def __str__(self) -> str:
        return f"{self.metric or self.key} = {self.value} at {self.time_unix_nano}"


class UnmappedActor(Identity):
    """Admin entry point for actors seen in the ledger that no Identity maps yet.

    A proxy (no table of its own): the admin page lists actors from WorkEvent and
    TokenUsage (``integrations.selectors.unmapped_actors``), not Identity rows.
    """

    class Meta:
        proxy = True
        verbose_name = "unmapped actor"


class ActorProposal(models.Model):
    """A vendor login proposed for a person: a delivery named the login together with
    an email that already belongs to that person (an identity, or their email).

    Written at webhook ingest (integrations.proposals); accepted, it becomes an
    Identity through ledger.directory like any other mapping.
    """

    class Status(models.TextChoices):
        OPEN = "open"
        ACCEPTED = "accepted"
        DISMISSED = "dismissed"

    actor = models.CharField(max_length=254, help_text="The login as records carry it.")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254, help_text="The email the delivery gave with it.")
    vendor = models.CharField(max_length=40)
    seen = models.BigIntegerField(default=1, help_text="Deliveries that named the pair.")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["actor", "person"], name="actorproposal_actor_person"),
        ]
        indexes = [models.Index(fields=["status", "actor"])]

    def __str__(self) -> str:
        return f"{self.actor} -> {self.person} ({self.status})"
