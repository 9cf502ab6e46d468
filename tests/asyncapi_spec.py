"""The official AsyncAPI 3.0.0 JSON Schema, as the AsyncAPI Initiative publishes it.

It ships in the npm package `@asyncapi/specs` (`schemas/3.0.0.json`, JSON Schema draft-07, its
parts under `definitions` named by their `$id`). The pinned version is fetched once with
`npm pack`, checked against its pinned integrity, and kept in `~/.cache/marketplace-asyncapi`;
nothing of it is written by hand here. Without npm or the registry a test that needs it skips
with the reason, and fails under `CI=true`; a download that does not match the pin always fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

PACKAGE = "@asyncapi/specs"
VERSION = "6.11.1"
SHA512 = "A3WBLqAKGoJ2+6FWFtpjBlCQ1oFCcs4GxF7zsIGvNqp/klGUHjlA3aAcZ9XMMpLGE8zPeYDz2x9FmO6DSuKraQ=="
"""`npm view @asyncapi/specs@6.11.1 dist.integrity`: what the registry published (sha512-…)."""
MEMBER = "package/schemas/3.0.0.json"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marketplace-asyncapi"
TARBALL = CACHE / f"asyncapi-specs-{VERSION}.tgz"


class Unavailable(Exception):
    """The package could not be fetched here (no npm, no registry)."""


def validator() -> Draft7Validator:
    """A validator of AsyncAPI 3.0.0 documents: skips the test locally, fails it under CI,
    when the official schema cannot be had."""
    obtained = _obtained()
    if isinstance(obtained, Draft7Validator):
        return obtained
    message = f"the official AsyncAPI schema is not available: {obtained}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@cache
def _obtained() -> Draft7Validator | Unavailable:
    """Tried once per session: a registry that does not answer is not asked again by each test."""
    try:
        schema = official_schema()
    except Unavailable as error:
        return error
    Draft7Validator.check_schema(schema)
    # Each part under `definitions` carries its own `$id`; the registry finds them there.
    registry: Registry[Any] = Registry().with_resource(
        schema["$id"], DRAFT7.create_resource(schema)
    )
    return Draft7Validator(
        schema, registry=registry.crawl(), format_checker=Draft7Validator.FORMAT_CHECKER
    )


def official_schema() -> dict[str, Any]:
    if not _intact(TARBALL):
        _download()
    with tarfile.open(TARBALL) as archive:
        member = archive.extractfile(MEMBER)
        assert member is not None, f"{MEMBER} is not a file in {PACKAGE}@{VERSION}"
        schema: dict[str, Any] = json.load(member)
    return schema


def _intact(tarball: Path) -> bool:
    if not tarball.is_file():
        return False
    return base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode() == SHA512


def _download() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed (Debian: apt-get install npm)")
    with tempfile.TemporaryDirectory() as directory:
        try:
            done = subprocess.run(
                [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", directory],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(f"`npm pack {PACKAGE}@{VERSION}` did not finish") from None
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip() != "npm error"]
            why = " / ".join(lines[:4]) or f"exit code {done.returncode}"
            raise Unavailable(f"`npm pack {PACKAGE}@{VERSION}` failed: {why}")
        downloaded = Path(directory) / TARBALL.name
        assert _intact(downloaded), f"{PACKAGE}@{VERSION} does not match its pinned integrity"
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = TARBALL.with_suffix(".part")
        shutil.copyfile(downloaded, partial)
        partial.replace(TARBALL)
