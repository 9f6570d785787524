from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operator commands for the whole service (up, ...)."""

    name = "awu.ops"
    label = "ops"
