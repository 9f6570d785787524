"""Vendor webhooks: one module per vendor (verify + parse), the registry that finds them, the view that runs them."""
