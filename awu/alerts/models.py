"""Budgets, alert rules' findings and their delivery (docs/alerts.md).

An ``Alert`` is one condition: (rule, subject, period key), unique, so evaluating
again never makes a second one. Its state changes are rows of ``AlertTransition``
(append-only); each transition is delivered once per channel (``Delivery``,
unique per pair), so a retry or a second sweep can never send it twice. A weekly
digest is a ``DigestRun`` per (week, recipient), created before it is sent.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from ledger.models import Person, Team


class Budget(models.Model):
    """A team's monthly spend budget and its target AWUs per dollar."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="budget")
    monthly_usd = models.DecimalField(
        "monthly budget (USD)",
        max_digits=14,
        decimal_places=2,
        help_text="Token spend allowed per calendar month (UTC), in dollars; more than 0.",
    )
    target_awus_per_dollar = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Optional: the AWUs per dollar the team aims for; 0 or more.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_usd__gt=0), name="alerts_budget_monthly_usd_positive"
            ),
            models.CheckConstraint(
                condition=Q(target_awus_per_dollar__isnull=True) | Q(target_awus_per_dollar__gte=0),
                name="alerts_budget_target_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}: ${self.monthly_usd}/month"

    def clean(self) -> None:
        errors = {}
        if self.monthly_usd is not None and Decimal(self.monthly_usd) <= 0:
            errors["monthly_usd"] = "The monthly budget must be more than 0."
        if self.target_awus_per_dollar is not None and Decimal(self.target_awus_per_dollar) < 0:
            errors["target_awus_per_dollar"] = "The target cannot be negative."
        if errors:
            raise ValidationError(errors)


class Rule(models.TextChoices):
    SPEND_PACE = "spend_pace", "Spend on pace to exceed the budget"
    EFFICIENCY_DROP = "efficiency_drop", "AWUs per dollar fell (settled periods)"
    SPEND_OUTLIER = "spend_outlier", "Daily spend is an outlier"


class AlertState(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(models.Model):
    """One condition of one rule for one subject (a team or a person) and period."""

    rule = models.CharField(max_length=32, choices=Rule.choices)
    # "team:<id>" or "person:<id>": the uniqueness key, with the FK for reading.
    subject = models.CharField(max_length=64)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE)
    # The period the condition is about: "2026-12" (month), "2026-11-02" (a day or
    # the first day of a settled period).
    period_key = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.OPEN)
    summary = models.TextField()
    details = models.JSONField(default=dict)
    opened_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=254, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject", "period_key"], name="alerts_alert_one_per_condition"
            )
        ]
        indexes = [models.Index(fields=["state", "id"])]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject} {self.period_key} ({self.state})"


class AlertTransition(models.Model):
    """An alert entering a state; append-only (a trigger refuses UPDATE and DELETE).
    A resolved alert whose condition holds again reopens: a new ``open`` row."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="transitions")
    state = models.CharField(max_length=16, choices=AlertState.choices)
    at = models.DateTimeField()
    actor = models.CharField(max_length=254, blank=True)

    class Meta:
        indexes = [models.Index(fields=["alert", "id"])]

    def __str__(self) -> str:
        return f"alert {self.alert_id} {self.state} at {self.at:%Y-%m-%d %H:%M}"


class Channel(models.Model):
    """Where alert transitions go: a webhook (Slack-compatible, signed) or email."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook"
        EMAIL = "email"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    url = models.URLField(blank=True, max_length=500, help_text="Webhook: where to POST.")
    # Fernet-encrypted (awu.alerts.delivery.secret_encrypt); never shown again.
    secret_encrypted = models.TextField(blank=True, editable=False)
    recipients = models.TextField(
        blank=True, help_text="Email: addresses, one per line or comma-separated."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        if self.kind == self.Kind.WEBHOOK and not self.url:
            raise ValidationError({"url": "A webhook channel needs a URL."})
        if self.kind == self.Kind.EMAIL and not self.recipient_list():
            raise ValidationError({"recipients": "An email channel needs at least one address."})

    def recipient_list(self) -> list[str]:
        return [a.strip() for a in self.recipients.replace(",", "\n").splitlines() if a.strip()]


class Delivery(models.Model):
    """One transition sent to one channel: created once, retried until sent or failed."""

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    transition = models.ForeignKey(AlertTransition, on_delete=models.PROTECT)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["transition", "channel"], name="alerts_delivery_once_per_channel"
            )
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"transition {self.transition_id} to {self.channel_id}: {self.state}"


class DigestRecipient(models.Model):
    """Who receives the weekly digest email."""

    email = models.EmailField(unique=True)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.email


class DigestRun(models.Model):
    """The digest of one week for one recipient: created first, then sent (once)."""

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"

    week = models.DateField(help_text="The Monday the digest's week starts.")
    email = models.EmailField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["week", "email"], name="alerts_digest_once_per_week")
        ]

    def __str__(self) -> str:
        return f"digest {self.week} to {self.email}: {self.state}"
