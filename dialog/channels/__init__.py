"""Channels: the terminal REPL, the JSON API and the WeChat Official Account webhook (docs/channels.md)."""
