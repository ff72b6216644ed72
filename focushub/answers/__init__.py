"""Answers domain: half of Q&A. It imports nothing of ``questions``; questions build
on it (a question's page embeds its first answers), never the other way."""
