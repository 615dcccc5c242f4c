"""The shared core: what every package of the project builds on, importing nothing else of it.

turn (the data of a turn and the stage interfaces), state (the dialogue state model), errors,
settings, text (CJK, language, tokens, folding), services (what a component may use of Redis and
the graph), redis_client, outbox, component (the component protocol and registry), cli (helpers).
"""
