"""The price book and the pricing of token usage.

cost (pure: a price entry, the entry in force for a model, the cost of tokens),
book (the ModelPrice rows as the ingest path sees them, cached per process),
imports (LiteLLM's price map into the book) and reprice (cost adjustments after a
price correction).
"""
