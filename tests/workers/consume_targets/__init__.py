"""Modules `marketplace consume` is pointed at in tests/workers/test_consume.py."""
