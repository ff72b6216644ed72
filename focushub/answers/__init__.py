"""Answers domain."""
