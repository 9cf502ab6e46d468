"""MSK Serverless IAM authentication: OAUTHBEARER tokens signed with the AWS credentials.

A token lives 15 minutes. kafka-python asks for one on every new connection, so the provider
caches it and signs a new one only when the cached token is within `refresh_margin` of expiry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
from kafka.net.sasl.oauth import AbstractTokenProvider

logger = logging.getLogger(__name__)

Signer = Callable[[str], tuple[str, int]]
"""(region) -> (token, expiry as epoch milliseconds): the signer library's shape."""


class MskIamTokenProvider(AbstractTokenProvider):
    """kafka-python rejects providers that do not subclass its AbstractTokenProvider."""

    def __init__(
        self,
        region: str,
        *,
        refresh_margin_seconds: float = 120.0,
        signer: Signer = MSKAuthTokenProvider.generate_auth_token,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.region = region
        self.refresh_margin_seconds = refresh_margin_seconds
        self._signer = signer
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self) -> str:
        with self._lock:
            if (
                self._token is None
                or self._clock() >= self._expires_at - self.refresh_margin_seconds
            ):
                self._token, expiry_ms = self._signer(self.region)
                self._expires_at = expiry_ms / 1000.0
                logger.info(
                    "signed a new MSK IAM token for %s, valid until %.0f",
                    self.region,
                    self._expires_at,
                )
            return self._token

    def extensions(self) -> dict[str, str]:
        return {}
