"""Metrics used by tests and benchmarks: acoustic correlates, WER, speaker similarity."""
