"""The demo organisation: a seeded, made-up company sent through the real ingest path.

``company`` generates it as plain data (no Django, no database); ``deliver``
sends it through the HTTP endpoints and vendor webhooks. ``manage.py seed_demo``
runs both.
"""
