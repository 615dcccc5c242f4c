"""Channels: the terminal REPL, the JSON API and (later) the WeChat webhook."""
