from django.apps import AppConfig


class DefinitionsConfig(AppConfig):
    name = "awu.definitions"
    label = "definitions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from awu.definitions import permissions

        permissions.load()
