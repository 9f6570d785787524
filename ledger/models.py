"""The append-only record: sources, people, events, token usage, prices, API keys.

WorkEvent, TokenUsage, CostAdjustment and AuditEvent are append-only, enforced by
triggers in the database (migrations 0002, 0005 and 0008), not only by the absence of an update view.
The one exception is the audited erasure of a person's identity (awu.ops.erasure),
which may replace actor strings with a pseudonym and nothing else.

Idempotency lives in the database too. The (source, external_id) guarantee is kept
in small key tables (EventKey, UsageKey) rather than as a unique index on the
record tables: a unique index on a partitioned table must include the partition
key, so keeping it apart lets WorkEvent and TokenUsage be range-partitioned by
month without weakening it (docs/scaling.md).
"""

from __future__ import annotations

from typing import TypeVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import connection, models
from django.db.models import Q, Value
from django.db.models.functions import Lower, Now

from ledger import clock


class Source(models.Model):
    """One emitter: an API client (kind ``api``) or one vendor webhook instance."""

    kind = models.CharField(max_length=40, help_text="'api' or a vendor slug, e.g. 'github'.")
    slug = models.SlugField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    # Webhook signing secrets, encrypted at rest (ledger.secrets). Two may be live
    # while a rotation is under way: the current one and the previous one until it
    # expires.
    secret_encrypted = models.TextField(blank=True, default="")
    previous_secret_encrypted = models.TextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Per-source vendor settings.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "slug"], name="source_kind_slug_unique"),
        ]
        ordering = ["kind", "slug"]

    def __str__(self) -> str:
        return f"{self.kind}:{self.slug}"


class Team(models.Model):
    """A team. Records name teams by ``slug``, exactly as the tool sent it.

    A slug first seen on a record makes a *discovered* team (ledger.teams), so the
    work and spend a tool attributes to it are never reported without a team. A
    person confirms it, or merges it into the team it really is: a merged team
    keeps its row (records still name its slug) and reports count it as the team
    it was merged into.
    """

    class Status(models.TextChoices):
        CONFIRMED = "confirmed"
        DISCOVERED = "discovered"

    slug = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    domain = models.CharField(
        max_length=40, blank=True, help_text="engineering, sales, legal, support, marketing, ..."
    )
    status = models.CharField(
        max_length=12,
        choices=Status.choices,
        default=Status.CONFIRMED,
        db_default=Status.CONFIRMED,
        help_text="'discovered': made from a record that named it; not yet confirmed.",
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged",
        help_text="Reports count this team as that one.",
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="The org tree: a department is a team with no parent.",
    )
    cost_centre = models.CharField(max_length=100, blank=True, db_default="")
    external_id = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="The directory's id for this team (a SCIM group's externalId).",
    )
    directory_attributes = models.JSONField(
        default=dict,
        db_default=Value({}, models.JSONField()),
        blank=True,
        help_text="What the directory sent that no column holds (members' display names), "
        "kept so it is answered back as sent.",
    )
    directory_group = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Provisioned as a group by the directory (SCIM); false once it deletes it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(merged_into=models.F("pk")), name="team_not_merged_into_itself"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.slug


class Person(models.Model):
    """Somebody whose work and spend are counted. Never deleted: a person who leaves
    is deactivated (``active``), their memberships end and their past work stays."""

    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True, null=True, blank=True)
    user_name = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        help_text="The directory's login name (SCIM userName); unique, whatever the case.",
    )
    external_id = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="The directory's id for this person (SCIM externalId, HR id).",
    )
    active = models.BooleanField(default=True, db_default=True)
    department = models.CharField(max_length=200, blank=True, db_default="")
    cost_centre = models.CharField(max_length=100, blank=True, db_default="")
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())
    directory_attributes = models.JSONField(
        default=dict,
        db_default=Value({}, models.JSONField()),
        blank=True,
        help_text="What the directory sent that no column holds (SCIM name parts, title, ...), "
        "kept so it is answered back as sent.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"
        constraints = [
            # SCIM compares userName without regard to case (RFC 7643 4.1.1).
            models.UniqueConstraint(Lower("user_name"), name="person_user_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name or (self.email or f"person {self.pk}")


_M = TypeVar("_M", bound=models.Model)


class CurrentManager(models.Manager[_M]):
    """The rows in force: those not retracted. ``history`` holds them all."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(retracted_at__isnull=True)


class Versioned(models.Model):
    """A directory row kept as history: it is never edited, only retracted.

    A change retracts the row in force and records its successor, in one
    transaction (ledger.directory); a trigger refuses every other UPDATE and every
    DELETE (migration 0008). So a report can read the directory as it was known at
    any time: the rows with ``recorded_at <= T`` and not retracted by then.
    """

    class Origin(models.TextChoices):
        ADMIN = "admin"
        API = "api"
        SCIM = "scim"
        IMPORT = "import"
        SYSTEM = "system"

    recorded_at = models.DateTimeField(default=clock.now, db_default=Now(), editable=False)
    retracted_at = models.DateTimeField(null=True, blank=True, editable=False)
    origin = models.CharField(
        max_length=10,
        choices=Origin.choices,
        default=Origin.ADMIN,
        db_default=Origin.SYSTEM,
        editable=False,
    )

    history = models.Manager()
    objects = CurrentManager()

    class Meta:
        abstract = True
        base_manager_name = "history"
        default_manager_name = "objects"


class Membership(Versioned):
    """A person belongs to a team from ``valid_from`` until ``valid_to`` (exclusive)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta(Versioned.Meta):
        indexes = [models.Index(fields=["person", "valid_from"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="membership_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} in {self.team} from {self.valid_from:%Y-%m-%d}"


class Identity(Versioned):
    """An alias by which tools know a person: an email, or ``github:octocat``.

    One row in force per value; a remap retracts it and records the new one."""

    value = models.CharField(max_length=254)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="identities")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(Versioned.Meta):
        verbose_name_plural = "identities"
        indexes = [models.Index(fields=["value", "recorded_at"], name="identity_value_history")]
        constraints = [
            models.UniqueConstraint(
                fields=["value"],
                condition=Q(retracted_at__isnull=True),
                name="identity_value_in_force",
            ),
        ]

    def __str__(self) -> str:
        return self.value


class ServiceName(models.Model):
    """What a source calls a service that deploys name otherwise.

    PagerDuty service ``PF9KMXH`` (matched against an event's ``service_id``,
    then its ``service`` attribute) is the deploys' ``acme/api``. Read when
    events are scored, like identities: the ledger is never rewritten, and
    saving a mapping queues that source's events of the service to be scored
    again. Events naming the same service the same way need no mapping.
    """

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="service_names")
    external_name = models.CharField(
        max_length=200, help_text="the service id or name as this source sends it"
    )
    service = models.CharField(max_length=200, help_text="the service as deploys name it")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_name"], name="servicename_source_external"
            )
        ]
        indexes = [models.Index(fields=["service"], name="servicename_service")]

    def __str__(self) -> str:
        return f"{self.external_name} -> {self.service}"


class WorkEvent(models.Model):
    """One thing that happened in a tool. Append-only.

    ``id`` is the ingest sequence: allocated in arrival order, used by cursors.
    ``actor`` and ``team`` are kept exactly as the tool sent them; they are resolved
    to a Person and a Team when read (ledger.identities), so mapping an alias later
    attributes the past too, without rewriting the ledger.
    """

    id = models.BigAutoField(primary_key=True)
    # Indexed by (source, external_id) below; no separate index on source alone.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+", db_index=False)
    external_id = models.CharField(max_length=200)
    type = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    actor = models.CharField(max_length=254, null=True, blank=True)
    team = models.CharField(max_length=100, null=True, blank=True)
    subject = models.CharField(max_length=500, null=True, blank=True)
    refs = models.JSONField(default=dict)
    # "kind:value" for every ref, for indexed overlap lookups (refs && ARRAY[...]).
    ref_keys = ArrayField(models.CharField(max_length=300), default=list)
    ai = models.JSONField(null=True, blank=True)
    attributes = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["type", "occurred_at"], name="workevent_type_time"),
            models.Index(fields=["occurred_at"], name="workevent_time"),
            models.Index(fields=["actor", "occurred_at"], name="workevent_actor_time"),
            models.Index(fields=["team", "occurred_at"], name="workevent_team_time"),
            models.Index(fields=["source", "external_id"], name="workevent_source_external"),
            GinIndex(fields=["ref_keys"], name="workevent_ref_keys"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.external_id}"


class TokenUsage(models.Model):
    """Tokens spent on one request, or in one bucket of a vendor usage report. Append-only.

    ``cost_usd`` is what the record cost: as reported by the emitter
    (``cost_source='reported'``), or priced at ingest from the price book entry in
    force at ``occurred_at`` (``computed``, with ``price`` set). With neither, the
    record is ``unpriced`` and its cost is NULL, never a silent zero.
    """

    class CostSource(models.TextChoices):
        REPORTED = "reported"
        COMPUTED = "computed"
        UNPRICED = "unpriced"

    class Grain(models.TextChoices):
        REQUEST = "request"
        SUMMARY = "summary"

    id = models.BigAutoField(primary_key=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+", db_index=False)
    external_id = models.CharField(max_length=200)
    occurred_at = models.DateTimeField(help_text="Request time, or the bucket's start.")
    period_end = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    actor = models.CharField(max_length=254, null=True, blank=True)
    team = models.CharField(max_length=100, null=True, blank=True)
    provider = models.CharField(max_length=60)
    model = models.CharField(max_length=200)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    # All cache writes; the 1-hour ones are also counted in cache_creation_1h_input_tokens.
    cache_creation_input_tokens = models.BigIntegerField(default=0)
    cache_creation_1h_input_tokens = models.BigIntegerField(default=0)
    cache_read_input_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=9, null=True, blank=True)
    cost_source = models.CharField(max_length=10, choices=CostSource.choices)
    grain = models.CharField(
        max_length=10,
        choices=Grain.choices,
        default=Grain.REQUEST,
        db_default=Grain.REQUEST,
        help_text="'summary': a sum of requests the same source may also report one by one"
        " (ledger.spend decides which counts).",
    )
    price = models.ForeignKey(
        "ModelPrice", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refs = models.JSONField(default=dict)
    ref_keys = ArrayField(models.CharField(max_length=300), default=list)
    attributes = models.JSONField(default=dict)

    class Meta:
        verbose_name_plural = "token usage"
        indexes = [
            models.Index(fields=["occurred_at"], name="usage_time"),
            models.Index(fields=["actor", "occurred_at"], name="usage_actor_time"),
            models.Index(fields=["team", "occurred_at"], name="usage_team_time"),
            models.Index(fields=["provider", "model", "occurred_at"], name="usage_model_time"),
            models.Index(fields=["source", "external_id"], name="usage_source_external"),
            models.Index(
                fields=["occurred_at"],
                name="usage_unpriced",
                condition=Q(cost_source="unpriced"),
            ),
            GinIndex(fields=["ref_keys"], name="usage_ref_keys"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} {self.external_id}"


class SessionLink(models.Model):
    """A session that made a commit: one row per (``x.session.commit`` event, session,
    commit), written by a trigger on ``ledger_workevent`` in the same statement as
    the event (ledger migration 0020), whoever writes it.

    Derived from the append-only events and append-only itself, it is where spend
    finds the commits its sessions made (``ledger.spend``): one index probe per
    session, where a lookup in the events reads the ``ref_keys`` index of every
    monthly partition. ``received_at`` is the event's, so an ``as_of`` read sees
    only the links known then.
    """

    event_id = models.BigIntegerField()
    received_at = models.DateTimeField()
    session_key = models.TextField(help_text="'session:<id>', as in ref_keys.")
    commit_key = models.TextField(help_text="'commit:<sha>', as in ref_keys.")

    class Meta:
        indexes = [
            models.Index(fields=["session_key"], name="sessionlink_session"),
            models.Index(fields=["commit_key"], name="sessionlink_commit"),
        ]

    def __str__(self) -> str:
        return f"{self.session_key} -> {self.commit_key}"


class EventKey(models.Model):
    """The idempotency key of a WorkEvent, and the digest of its canonical body.

    Keyed by (source, external_id) alone: one index to maintain on the hot path.
    """

    pk = models.CompositePrimaryKey("source", "external_id")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+", db_index=False)
    external_id = models.CharField(max_length=200)
    digest = models.BinaryField(max_length=32)
    event_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.source_id}/{self.external_id} -> event {self.event_id}"


class UsageKey(models.Model):
    """The idempotency key of a TokenUsage record, and the digest of its canonical body.

    Keyed by (source, external_id) alone: one index to maintain on the hot path.
    """

    pk = models.CompositePrimaryKey("source", "external_id")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+", db_index=False)
    external_id = models.CharField(max_length=200)
    digest = models.BinaryField(max_length=32)
    usage_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.source_id}/{self.external_id} -> usage {self.usage_id}"


class EventOutbox(models.Model):
    """Events stored but not yet consumed by scoring (the transactional outbox).

    One row per write: a batch's events travel in one array, written in the same
    statement as the events, so a batch of 1,000 costs one outbox row rather than
    1,000. Consumers claim rows with SELECT ... FOR UPDATE SKIP LOCKED in id order,
    delete the rows they consumed and, when a pass ends inside a row, put its
    remainder back in the same transaction. The broker only carries wake-ups, so
    a lost message loses nothing.
    """

    event_ids = ArrayField(models.BigIntegerField())
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{len(self.event_ids)} events unscored"

    @classmethod
    def pending(cls) -> int:
        """How many events wait to be scored (summed over the rows)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(sum(cardinality(event_ids)), 0) FROM ledger_eventoutbox"
            )
            return int(cursor.fetchone()[0])


class ModelPrice(models.Model):
    """One price book entry: USD per million tokens for a model, effective-dated.

    Mirrors ledger.pricing.cost.PriceEntry, which does the arithmetic.
    """

    provider = models.CharField(max_length=60)
    model = models.CharField(max_length=200, help_text="Canonical model id.")
    match = models.CharField(
        max_length=200,
        help_text="Space-separated globs matched against model ids (dated ids, aliases), e.g. claude-sonnet-4-5-20*",
    )
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    input = models.DecimalField(max_digits=14, decimal_places=6)
    output = models.DecimalField(max_digits=14, decimal_places=6)
    cache_write_5m = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_write_1h = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_read = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    long_context_threshold = models.BigIntegerField(null=True, blank=True)
    input_long = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    output_long = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_write_5m_long = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True
    )
    cache_write_1h_long = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True
    )
    cache_read_long = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    note = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "model", "-effective_from"]
        indexes = [models.Index(fields=["provider", "effective_from"])]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "match", "effective_from"], name="modelprice_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} from {self.effective_from:%Y-%m-%d}"


class CostAdjustment(models.Model):
    """A correction to a stored usage cost, appended by ``reprice --apply``. Append-only.

    The usage record keeps its original cost; reports add the adjustments and say so.
    """

    # A plain id, not a foreign key: the usage table is partitioned by month and its
    # primary key is (id, occurred_at), so a key on id alone cannot be referenced.
    usage_id = models.BigIntegerField(db_index=True)
    delta_usd = models.DecimalField(max_digits=20, decimal_places=9)
    price = models.ForeignKey(
        ModelPrice, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500)
    # The one clock, as scoring's entries: "as of" reports take the adjustments
    # created by then, and a pinned clock (AWU_NOW) must pin this too.
    created_at = models.DateTimeField(default=clock.now, db_default=Now(), editable=False)

    class Meta:
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.delta_usd:+} USD on usage {self.usage_id}"


class ApiKey(models.Model):
    """An API key. Only its SHA-256 is stored; the key itself is shown once."""

    class Scope(models.TextChoices):
        EVENTS_WRITE = "events:write"
        USAGE_WRITE = "usage:write"
        REPORTS_READ = "reports:read"
        DIRECTORY_READ = "directory:read"
        DIRECTORY_WRITE = "directory:write"
        AUDIT_READ = "audit:read"
        ADMIN = "admin"

    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise it.")
    hashed = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=20, choices=Scope.choices))
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    teams = models.ManyToManyField(
        Team,
        blank=True,
        related_name="+",
        help_text="Limit what the key reads to these teams (and the teams below them and "
        "merged into them). Empty: every team.",
    )

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditEvent(models.Model):
    """One change to what the numbers mean (ledger.audit records it). Append-only.

    ``action`` is ``<object type>.<verb>`` (``price.added``, ``api_key.revoked``);
    ``before`` and ``after`` hold the changed values, either may be null.
    """

    class ActorKind(models.TextChoices):
        USER = "user"
        API_KEY = "api_key"
        OPERATOR = "operator"
        SYSTEM = "system"

    id = models.BigAutoField(primary_key=True)
    # Wall clock: when the change was made, whatever AWU_NOW says scoring's time is.
    at = models.DateTimeField(db_default=Now())
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor = models.CharField(max_length=254, help_text="User name, API key name or operator.")
    actor_id = models.CharField(max_length=64, blank=True, help_text="User or API key id.")
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        verbose_name = "audit event"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["actor", "id"], name="audit_actor"),
            models.Index(fields=["at"], name="audit_at"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_label or self.object_id} by {self.actor}"


class RoleGrant(models.Model):
    """A role a user holds, for one team or for all (ledger.access reads them).

    ``admin`` and ``finance`` hold for every team (``team`` is empty); a
    ``team_lead`` grant names its team; a ``viewer`` grant names a team to limit
    what its holder reads, or none for every team. A grant on a team covers the
    teams below it in the org tree and the teams merged into it. ``origin`` says
    who made it: a person (``manual``) or the identity provider's groups at
    sign-in (``oidc``), which replace their own grants at every sign-in and
    leave the manual ones alone.
    """

    class Role(models.TextChoices):
        ADMIN = "admin"
        TEAM_LEAD = "team_lead", "team lead"
        FINANCE = "finance"
        VIEWER = "viewer"

    class Origin(models.TextChoices):
        MANUAL = "manual"
        OIDC = "oidc", "OIDC"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants"
    )
    role = models.CharField(max_length=12, choices=Role.choices)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="role_grants"
    )
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.MANUAL)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "role", "team_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "team"],
                name="role_grant_once",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=~Q(role="team_lead") | Q(team__isnull=False),
                name="role_grant_team_lead_names_team",
            ),
            models.CheckConstraint(
                condition=~Q(role__in=["admin", "finance"]) | Q(team__isnull=True),
                name="role_grant_admin_finance_all_teams",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.get_role_display()}" + (f" of {self.team}" if self.team else "")
