"""Questions domain: the other half of Q&A, built on ``answers`` (a question's page
embeds its first answers with answers' queries, schemas and reader)."""
