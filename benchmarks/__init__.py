"""Benchmarks, run by hand: `python -m benchmarks.<name> --help`. Not part of the tests."""
