"""AI answers: grounded in the platform's own material, cited, scored, or abstaining."""
