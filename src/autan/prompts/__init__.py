"""The prompt library: built-in templates and the ones people save or share."""
