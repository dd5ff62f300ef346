"""Monthly token budgets per organisation and per role, their check and their alerts."""
