"""Answer benchmarks: are the embedded model's grounded answers right, French and fast."""
