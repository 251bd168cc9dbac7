"""Parity suite support: layer modules for each daphne (run from this folder) and the test harness."""
