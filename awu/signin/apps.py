from django.apps import AppConfig


class SigninConfig(AppConfig):
    name = "awu.signin"
    label = "signin"
    verbose_name = "Sign-in"
