"""La Suite numérique's Docs: send answers to Docs, read Docs documents as context."""
