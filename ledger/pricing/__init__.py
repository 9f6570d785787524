"""The price book and the pricing of token usage, one module per concern.

cost: a price entry, the entry in force for a model, the cost of tokens (pure).
names: model ids as tools report them, normalised; glob ranking (pure).
files: price entries as JSON, the shipped price book (ledger/pricebook/prices.json).
litellm: LiteLLM's price map in and out (pure).
book: the ModelPrice rows as the ingest path sees them, cached per process.
imports: a LiteLLM price map into the price book, as new effective-dated rows.
reprice: cost adjustments for usage already priced, after a price correction.
"""
