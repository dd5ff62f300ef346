"""Assistants: instructions, a model and collections an organisation shares with its members."""
