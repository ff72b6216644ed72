"""Trust and safety: limits on what an account may write, by its age and standing."""
