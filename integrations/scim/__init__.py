"""SCIM 2.0 provisioning (RFC 7643 / 7644): identity providers push users and groups.

A SCIM User is a ``Person``, a SCIM Group is a ``Team``; every directory write goes
through ``ledger.directory``, so memberships and identities keep their history.
The wire models, filters and PATCH application come from ``scim2-models``.
"""
