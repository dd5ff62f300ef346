"""Energy and CO2 of answers, as people read them: under an answer and in the cockpit."""
