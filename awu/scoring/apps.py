from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "awu.scoring"
    label = "scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from awu.scoring.permissions import register
        from awu.scoring.selectors import units_per_actor
        from ledger import actor_work

        register()  # what each role may do (rules permissions)
        actor_work.register(units_per_actor)
