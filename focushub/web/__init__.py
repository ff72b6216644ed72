"""The web app: server-rendered pages (Jinja2 + htmx) over the same services as the API.

A client like the realtime gateway: it calls domain services in their own
transactions and RLS roles, and holds no SQL of its own.
"""
