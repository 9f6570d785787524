import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awu.settings")

application = get_wsgi_application()

# Everything loaded so far (Django, the apps, the settings) lives as long as the
# process: move it out of the cycle collector's walk. A request allocates many
# short-lived objects (a 1,000-event batch makes ~100,000), so the collector runs
# dozens of times per batch, and each older-generation run walked all of this:
# a fifth of a batch's Python time (BENCHMARKS.md, Ingest).
gc.freeze()
