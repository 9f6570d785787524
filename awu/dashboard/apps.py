from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "awu.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
