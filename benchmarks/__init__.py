"""Performance harness: `python -m benchmarks.run [--only NAME] [--json FILE]`."""
