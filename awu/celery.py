"""The Celery application. Tasks live next to the services they call."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awu.settings")

app = Celery("awu")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
