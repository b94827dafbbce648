"""modelark: a governed model registry on any OCI registry, from Python.

    import modelark
    c = modelark.Client()
    pushed = c.push("./bert", "ghcr.io/acme/bert:1.0.0")
    c.verify("ghcr.io/acme/bert:1.0.0", keys=["cosign.pub"])
    path = c.fetch("ghcr.io/acme/bert@production", policy="deploy.yaml")

Every method of :class:`Client` is one of the library's use cases (the same code the
``modelark`` command runs); results are typed records whose ``to_dict()`` is the CLI's
``--json`` form; failures raise :mod:`modelark.errors`. See docs/python.md.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Union

from . import errors
from ._native import Client, version as _version
from ._records import (
    Dataset,
    Diff,
    Event,
    Exported,
    Fetched,
    File,
    Graph,
    Hit,
    Imported,
    Inspected,
    KeyPair,
    Lineage,
    LineageSource,
    Metadata,
    ModelEntry,
    Moved,
    Packed,
    Progress,
    Pulled,
    Pushed,
    Record,
    Removed,
    Report,
    DirReport,
    RepositoryEntry,
    Signed,
    Statement,
    Tagged,
    Version,
    Versions,
)
from .errors import (
    AuthenticationError,
    Error,
    MetadataWarning,
    NotFound,
    RefusedByGovernance,
    RegistryError,
    UsageError,
    VerificationFailed,
)

__version__: str = _version()

__all__ = [
    "Client",
    "default_client",
    "pack",
    "push",
    "pull",
    "fetch",
    "inspect",
    "sign",
    "verify",
    "verify_dir",
    "search",
    "errors",
    "Error",
    "NotFound",
    "VerificationFailed",
    "RefusedByGovernance",
    "RegistryError",
    "AuthenticationError",
    "UsageError",
    "MetadataWarning",
    "Record",
    "Packed",
    "Pushed",
    "Pulled",
    "Fetched",
    "Inspected",
    "Metadata",
    "Lineage",
    "Dataset",
    "LineageSource",
    "File",
    "ModelEntry",
    "RepositoryEntry",
    "Tagged",
    "Removed",
    "Exported",
    "Imported",
    "Signed",
    "Report",
    "DirReport",
    "Statement",
    "Versions",
    "Version",
    "Moved",
    "Event",
    "Graph",
    "Hit",
    "Diff",
    "KeyPair",
    "Progress",
]

_default: Optional[Client] = None


def default_client() -> Client:
    """The client the module-level shortcuts use: ``Client()`` (``$MODELARK_HOME``, the
    docker credentials, TLS), made on first use."""
    global _default
    if _default is None:
        _default = Client()
    return _default


Keys = Union[str, "Sequence[str]", None]


def pack(path: str, reference: str, **options: Any) -> Packed:
    """``default_client().pack(...)``."""
    return default_client().pack(path, reference, **options)


def push(source: str, reference: str, **options: Any) -> Pushed:
    """``default_client().push(...)``."""
    return default_client().push(source, reference, **options)


def pull(reference: str, dest: Optional[str] = None, **options: Any) -> Pulled:
    """``default_client().pull(...)``."""
    return default_client().pull(reference, dest, **options)


def fetch(reference: str, *, policy: Optional[str] = None, keys: Keys = None, progress: Any = None) -> str:
    """``default_client().fetch(...)``: a verified model's read-only directory."""
    return default_client().fetch(reference, policy=policy, keys=keys, progress=progress)


def inspect(reference: str) -> Inspected:
    """``default_client().inspect(...)``."""
    return default_client().inspect(reference)


def sign(reference: str, *, key: str, password: Optional[str] = None, **options: Any) -> Signed:
    """``default_client().sign(...)``."""
    return default_client().sign(reference, key=key, password=password, **options)


def verify(reference: str, *, keys: Keys = None, policy: Optional[str] = None) -> Report:
    """``default_client().verify(...)``."""
    return default_client().verify(reference, keys=keys, policy=policy)


def verify_dir(dir: str, *, keys: Keys = None, policy: Optional[str] = None, signature: Optional[str] = None) -> DirReport:
    """``default_client().verify_dir(...)``: a directory against its ``model.sig``."""
    return default_client().verify_dir(dir, keys=keys, policy=policy, signature=signature)


def search(scope: str, where: Union[str, Sequence[str], None] = None, *, text: Optional[str] = None) -> List[Hit]:
    """``default_client().search(...)``."""
    return default_client().search(scope, where, text=text)
