"""manage.py evaluate_alerts: the rules at once, for operators."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.core.management import call_command

from awu.alerts.models import Alert
from tests.awu.alerts.scenario import NOW, trip_every_rule


def test_the_command_opens_the_alerts_once_and_says_how_many(settings: Any, db: None) -> None:
    settings.AWU_NOW = NOW
    trip_every_rule()
    out = StringIO()
    call_command("evaluate_alerts", stdout=out)
    assert out.getvalue().startswith("opened 4, resolved 0, active 4")
    again = StringIO()
    call_command("evaluate_alerts", stdout=again)
    assert again.getvalue().startswith("opened 0, resolved 0, active 4")
    assert Alert.objects.count() == 4
