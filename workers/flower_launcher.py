"""`marketplace flower`: Flower behind basic auth, never with the default password in the open.

Flower's UI and API are guarded by basic auth (user `admin`, `FLOWER_PASSWORD`); its
`/metrics` and `/healthcheck` are not, so it is meant to listen on loopback, behind a proxy, or
on a private network. The default password is accepted only on a loopback address (local
development, `make run`); listening anywhere else with it is refused before Flower starts.
The credentials reach Flower through its `FLOWER_BASIC_AUTH` variable, not its command line,
where `ps` would show them.
"""

from __future__ import annotations

import ipaddress
import os

from workers.settings import DEFAULT_FLOWER_PASSWORD, Settings, SettingsError

USER = "admin"


def command(settings: Settings, address: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The Flower command line and the variables to add to its environment."""
    if settings.flower_password == DEFAULT_FLOWER_PASSWORD and not _loopback(address):
        raise SettingsError(
            f"FLOWER_PASSWORD: refusing to serve Flower on {address} with the default password;"
            " set a password of your own, or listen on 127.0.0.1"
        )
    argv = ["celery", "-A", "workers", "flower", f"--address={address}", f"--port={port}"]
    return argv, {"FLOWER_BASIC_AUTH": f"{USER}:{settings.flower_password}"}


def run(settings: Settings, address: str, port: int) -> None:
    argv, env = command(settings, address, port)
    os.execvpe(argv[0], argv, {**os.environ, **env})


def _loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
