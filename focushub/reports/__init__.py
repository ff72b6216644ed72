"""Reports of content and people, and the moderation queue that resolves them."""
