"""Who signed in through the identity provider, and which directory person they are."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class OidcAccount(models.Model):
    """A user as the identity provider knows them: its issuer and subject.

    The (issuer, subject) pair, not the email, says who signs in: an email can be
    reassigned at the provider, a subject never is. ``person`` is the directory's
    Person with the same email, when there is one.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_account"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    person = models.ForeignKey(
        "ledger.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    groups = models.JSONField(default=list, blank=True, help_text="As of the last sign-in.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OIDC account"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_account_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.subject})"
