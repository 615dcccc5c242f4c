"""The WeChat Official Account channel: webhook protocol, delivery rules, customer-service push.

Kept free of imports here: `dialog serve` reads the settings check (`protocol`) before the workers
start, and must not load the metrics module that early.
"""
