"""Deep research ("Recherche approfondie"): planned searches, pages read, a cited report."""
