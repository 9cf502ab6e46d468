"""`marketplace flower`: the default password stays on loopback; credentials stay off argv."""

from __future__ import annotations

import pytest

from workers import flower_launcher
from workers.cli import main
from workers.settings import SettingsError, load_settings


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_the_default_password_is_accepted_on_loopback(address: str) -> None:
    argv, env = flower_launcher.command(load_settings(_env_file=None), address, 5555)

    assert argv[:4] == ["celery", "-A", "workers", "flower"]
    assert f"--address={address}" in argv
    assert env == {"FLOWER_BASIC_AUTH": "admin:marketplace"}


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "10.0.0.5", "flower.internal"])
def test_the_default_password_is_refused_anywhere_else(address: str) -> None:
    with pytest.raises(SettingsError, match="default password"):
        flower_launcher.command(load_settings(_env_file=None), address, 5555)


def test_a_password_of_ones_own_listens_anywhere_and_never_on_the_command_line() -> None:
    settings = load_settings(flower_password="s3cret!", _env_file=None)

    argv, env = flower_launcher.command(settings, "0.0.0.0", 5555)

    assert env["FLOWER_BASIC_AUTH"] == "admin:s3cret!"
    assert not any("s3cret" in part for part in argv)


def test_the_command_refuses_with_exit_2_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FLOWER_PASSWORD", raising=False)

    assert main(["flower", "--address", "0.0.0.0"]) == 2
    assert "refusing to serve Flower on 0.0.0.0" in capsys.readouterr().err


def test_an_empty_password_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWER_PASSWORD", "")

    with pytest.raises(SettingsError, match="FLOWER_PASSWORD"):
        load_settings()
