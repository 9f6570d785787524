from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI description of API-key authentication.
        from ledger import openapi  # noqa: F401
        from ledger.permissions import register

        register()  # what each role may do (rules permissions)
