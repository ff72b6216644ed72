"""Stored files: receiving uploads, sniffing their type, storing and serving them, previews."""
