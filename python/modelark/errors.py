"""The exceptions modelark raises. Every message is the CLI's: the operation and object
(``failed to pull HOST/REPO:TAG``), then each ``caused by:`` on its own line."""

from __future__ import annotations

from typing import Any, List, Optional

__all__ = [
    "Error",
    "NotFound",
    "VerificationFailed",
    "RefusedByGovernance",
    "RegistryError",
    "AuthenticationError",
    "UsageError",
    "MetadataWarning",
]


class Error(Exception):
    """Any modelark failure."""


class NotFound(Error):
    """A model, tag, repository, blob or file that does not exist (the CLI's exit 1)."""


class VerificationFailed(Error):
    """A model that did not verify: the trust policy's unmet requirements, or content whose
    digest or size is wrong. Nothing was written."""

    unmet: List[str]
    """Each unmet policy requirement, one sentence each (empty for a digest mismatch)."""
    digest: Optional[str]
    """The manifest digest that was checked, when known."""
    report: Optional[Any]
    """From ``Client.verify``: the whole ``Report`` (every signature and finding)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.unmet = []
        self.digest = None
        self.report = None


class RefusedByGovernance(Error):
    """Governance refused a change: a version tag that would move (versions are immutable),
    an alias whose policy requirements are unmet."""

    unmet: List[str]
    """For an alias move: each requirement of the policy that is unmet."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.unmet = []


class RegistryError(Error):
    """A registry answered with an error, or could not be reached."""

    status: Optional[int]
    """The HTTP status, when the registry answered."""
    code: Optional[str]
    """The distribution error code (``MANIFEST_UNKNOWN``, ``DENIED``, ...), when given."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.status = None
        self.code = None


class AuthenticationError(RegistryError):
    """Credentials are missing or were refused (HTTP 401/403)."""

    registry: Optional[str]
    """The registry host, when known."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.registry = None


class UsageError(Error, ValueError):
    """An argument that cannot be used: a malformed reference, metadata or option."""


class MetadataWarning(UserWarning):
    """Metadata a pack or push left out: a model card field that does not map, or
    malformed front matter (the message names the line or the field)."""
