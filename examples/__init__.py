"""Services another team would copy (run from the repository's root)."""
