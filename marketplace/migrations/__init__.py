"""Alembic migrations of the marketplace schema, shipped inside the package.

Applied with `marketplace.domain.database.upgrade(url)`; hand-written, so nothing at runtime
depends on autogenerate. A test checks that the migrated schema matches the models.
"""
