"""Vendor usage and cost reports: the Anthropic and OpenAI clients and the import that stores them."""
