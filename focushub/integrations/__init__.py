"""Adapters to what is outside the process (SMTP; later object storage and LLM providers).

Each is a small interface over a well-kept client library; domains use the
adapter, never the library directly.
"""
