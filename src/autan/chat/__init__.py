"""Conversations with the assistant: messages, streaming answers, titles, feedback."""
