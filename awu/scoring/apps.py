from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "awu.scoring"
    label = "scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from awu.scoring.permissions import register

        register()  # what each role may do (rules permissions)
