"""Tenant ids: the isolation key of every row and every query.

Tenant ids are UUIDs (the envelope's `tenantid` must be one); they are stored in their
canonical form so that `00000000000000000000000000000001` and the hyphenated spelling of the
same tenant can never become two tenants.
"""

from __future__ import annotations

import uuid

from marketplace.domain.errors import InvalidInput


def canonical(tenant_id: str, *, action: str) -> str:
    """The stored form of a tenant id; anything that is not a UUID is refused."""
    try:
        return str(uuid.UUID(str(tenant_id)))
    except ValueError:
        raise InvalidInput("tenant", str(tenant_id), action, ["tenant id is not a UUID"]) from None
