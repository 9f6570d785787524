from django.apps import AppConfig


class DefinitionsConfig(AppConfig):
    name = "awu.definitions"
    label = "definitions"
    default_auto_field = "django.db.models.BigAutoField"
