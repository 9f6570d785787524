from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "awu.alerts"
    label = "alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from awu.alerts.permissions import register

        register()  # what each role may do (rules permissions)
