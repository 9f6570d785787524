"""The AWU rules as plain Python: what definitions are made of and how they score.

:mod:`~awu.rules.spec` (a definition, an event, a unit's result as plain data),
:mod:`~awu.rules.catalog` (the canonical event types), :mod:`~awu.rules.cel`
(checking and compiling expressions) and :mod:`~awu.rules.engine` (events in,
units and entries out). Nothing here touches the ORM or settings, so the same
code serves the admin's checks, the worker, a rescore and a preview, and runs
without a database; ``awu.definitions`` stores the rules, ``awu.scoring`` runs
them over the ledger.
"""
