"""``django.contrib.admin`` with the ledger's site (ledger.admin_site) as ``admin.site``.

Its own module: INSTALLED_APPS imports it before the models are ready.
"""

from django.contrib.admin.apps import AdminConfig


class LedgerAdminConfig(AdminConfig):
    default_site = "ledger.admin_site.LedgerAdminSite"
