"""Offline stand-ins for tests, benches and a first try without keys: a tiny Llama with its own
tokenizer (:mod:`.tiny_lm`) and a scriptable OpenAI-compatible chat server on loopback
(:mod:`.chat_server`). The ``mock:`` backend (:mod:`trustsim.backends.mock`) needs neither.
"""
