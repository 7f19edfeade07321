"""Metrics used by tests and benchmarks (acoustic correlates; later WER, speaker similarity)."""
