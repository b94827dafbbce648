"""Typed results. Each is the JSON form of the library's result (the CLI's ``--json``,
docs/json.md) with attribute access: ``pushed.digest``, ``info.metadata.lineage.parent``.
``to_dict()`` returns exactly that JSON form. Attribute names are snake_case; the ModelPack
fields that the JSON keeps in camelCase (``paramSize``) are read as ``param_size`` too.
Maps keyed by data (metrics, annotations, aliases, approvals, search fields) stay dicts."""

from __future__ import annotations

import copy
import json
import re
import warnings
from typing import Any, ClassVar, Dict, List, Optional, Type

__all__ = [
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
    "Node",
    "Edge",
    "Hit",
    "Diff",
    "KeyPair",
    "Progress",
    "Transfer",
]

# Keys whose values are maps keyed by data, not records.
_MAPS = frozenset(
    {
        "metrics",
        "annotations",
        "aliases",
        "approvals",
        "rejections",
        "fields",
        "statement",
        "predicate",
        "capabilities",
        "signature",
        "claims",
    }
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Record:
    """A result: attributes over its JSON form."""

    _nested: ClassVar[Dict[str, Type["Record"]]] = {}

    __slots__ = ("_data",)

    def __init__(self, data: Dict[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def _key(self, name: str) -> Optional[str]:
        if name in self._data:
            return name
        camel = _camel(name)
        if camel in self._data:
            return camel
        return None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        key = self._key(name)
        if key is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        return self._wrap(key, self._data[key])

    def _wrap(self, key: str, value: Any) -> Any:
        if key in _MAPS:
            return copy.deepcopy(value)
        kind = self._nested.get(key, Record)
        if isinstance(value, dict):
            return kind(value)
        if isinstance(value, list):
            return [kind(v) if isinstance(v, dict) else v for v in value]
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __getitem__(self, key: str) -> Any:
        return self._wrap(key, self._data[key])

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | {_snake(k) for k in self._data})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._data == self._data  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(json.dumps(self._data, sort_keys=True))

    def __repr__(self) -> str:
        shown = [
            f"{_snake(k)}={v!r}"
            for k, v in self._data.items()
            if not isinstance(v, (dict, list))
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form: what the CLI prints with ``--json``."""
        return copy.deepcopy(self._data)


class Packed(Record):
    """``pack``: the stored model, pinned."""

    reference: str
    digest: str
    files: int
    size: int
    replaced: Optional[str]
    warnings: List[str]


class Pushed(Record):
    """``push`` and ``copy``: the target, pinned, and the total layer size."""

    reference: str
    digest: str
    size: int
    warnings: List[str]


class Pulled(Record):
    """``pull``: the model, pinned; with ``dest=``, the directory and its files."""

    reference: str
    digest: str
    size: int
    output: Optional[str]
    files: Optional[int]
    unchanged: bool
    skipped: List[str]


class Fetched(Record):
    """``fetch_info``: the fetch cache's read-only directory for a verified model."""

    reference: str
    digest: str
    path: str
    cached: bool


class Dataset(Record):
    """A training dataset: URI and optional digest."""

    uri: str
    digest: Optional[str]


class LineageSource(Record):
    """Source code: repository and revision."""

    repo: str
    revision: Optional[str]


class BaseModel(Record):
    """An upstream model outside any registry (``hf://ORG/NAME``) and how this one derives from it."""

    uri: str
    relation: Optional[str]


class Lineage(Record):
    """Where a model came from."""

    _nested = {"datasets": Dataset, "source": LineageSource, "base_models": BaseModel, "baseModels": BaseModel}
    parent: Optional[str]
    datasets: List[Dataset]
    source: Optional[LineageSource]
    training_run: Optional[str]
    base_models: List[BaseModel]

    def __getattr__(self, name: str) -> Any:
        # Lineage fields are left out of the JSON when empty: absent means none.
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in ("datasets", "base_models"):
                return []
            if name in ("parent", "source", "training_run"):
                return None
            raise


class Metadata(Record):
    """The ModelPack metadata of a model (camelCase keys in ``to_dict()``)."""

    _nested = {"lineage": Lineage}
    name: Optional[str]
    version: Optional[str]
    licenses: List[str]
    framework: Optional[str]
    task: Optional[str]
    tags: List[str]
    metrics: Dict[str, float]
    description: Optional[str]

    def __getattr__(self, name: str) -> Any:
        # Empty fields are left out of the model file's JSON: absent means none.
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in ("licenses", "tags", "authors", "languages"):
                return []
            if name == "metrics":
                return {}
            if name == "lineage":
                return Lineage({})
            if name.startswith("_"):
                raise
            return None


class File(Record):
    """A file of a model: path, kind, size, digest."""

    path: str
    kind: str
    size: int
    digest: str
    media_type: str
    untested: bool


class Inspected(Record):
    """``inspect``: digest, metadata and files of a model, and its manifest annotations."""

    _nested = {"metadata": Metadata, "files": File}
    reference: str
    digest: str
    kind: str
    size: int
    metadata: Metadata
    files: List[File]
    annotations: Dict[str, str]


class ModelEntry(Record):
    """A tag in ``list``."""

    name: Optional[str]
    tag: str
    digest: str
    size: Optional[int]
    version: Optional[str]


class RepositoryEntry(Record):
    """A repository in a registry catalog (``list("HOST/")``)."""

    repository: str


class Tagged(Record):
    """``tag``: the new reference, pinned."""

    reference: str
    digest: str
    replaced: Optional[str]


class Removed(Record):
    """``rm``: the references removed."""

    removed: List[str]


class Exported(Record):
    """``export``: what the archive holds."""


class Imported(Record):
    """One model ``import_archive`` stored."""

    reference: str
    digest: str


class Signed(Record):
    """``sign``, ``attest``, ``approve``, ``reject``: the model and where the record is stored."""

    reference: str
    digest: str
    key: str
    stored: str


class Report(Record):
    """``verify``: whether the policy passed, the signers, evidence and each finding."""

    reference: str
    digest: str
    verified: bool
    signers: List[str]


class DirReport(Record):
    """``verify_dir``: a directory against its model signature, and how it differs."""

    dir: str
    signature: str
    model_name: str
    verified: bool
    signers: List[str]
    files: int
    bytes: int
    missing: List[str]
    extra: List[str]
    changed: List[str]


class Statement(Record):
    """A verified in-toto statement (``verify_attestation``)."""

    signers: List[str]
    source: str
    statement: Dict[str, Any]


class Version(Record):
    """One version in ``versions``."""

    _nested = {"metadata": Metadata}
    tag: str
    digest: str
    size: int
    metadata: Metadata
    aliases: List[str]
    signers: List[str]
    signatures: int


class Versions(Record):
    """``versions``: every version (semver order) and every alias."""

    _nested = {"versions": Version}
    versions: List[Version]
    aliases: Dict[str, str]


class Moved(Record):
    """``promote`` and ``rollback``: the alias, where it pointed and where it points."""

    alias: str
    version: str
    to: str
    # ``from`` is a keyword: read it as moved["from"] or moved.previous.

    @property
    def previous(self) -> Optional[str]:
        """Where the alias pointed before (None when it is new)."""
        value = self._data.get("from")
        return value if value is None else str(value)


class Event(Record):
    """One entry of ``history``."""

    time: Optional[str]
    kind: str
    version: str
    verified: bool
    detail: str


class Node(Record):
    """A node of a lineage graph."""

    id: str
    kind: str
    state: str


class Edge(Record):
    """An edge of a lineage graph (child to parent, dataset or source)."""

    relation: str


class Graph(Record):
    """``lineage``: nodes and edges."""

    _nested = {"nodes": Node, "edges": Edge}
    nodes: List[Node]
    edges: List[Edge]


class Hit(Record):
    """A search result."""

    repository: str
    tag: str
    digest: str
    fields: Dict[str, Any]


class Diff(Record):
    """``diff``: changed metadata and files, and how many are unchanged."""

    unchanged: int


class KeyPair(Record):
    """``generate_key_pair``: the files written."""

    private: str
    public: str


class Transfer(Record):
    """One transfer in flight."""

    label: str
    done: int
    total: int


class Progress(Record):
    """What a progress callback receives: bytes done of the total, transfers in flight."""

    _nested = {"transfers": Transfer}
    done: int
    total: int
    transfers: List[Transfer]
    finished: bool


_KINDS: Dict[str, Type[Record]] = {
    cls.__name__: cls
    for cls in (
        Packed, Pushed, Pulled, Fetched, Inspected, Tagged, Removed, Exported, Signed, Report,
        DirReport, Versions, Moved, Graph, Diff, KeyPair, Progress,
    )
}
_LISTS: Dict[str, Type[Record]] = {
    "ModelList": ModelEntry,
    "RepositoryList": RepositoryEntry,
    "ImportedList": Imported,
    "StatementList": Statement,
    "EventList": Event,
    "HitList": Hit,
}


def make(kind: str, text: str) -> Any:
    """The record (or list of records) of ``kind`` for a result's JSON ``text``; what a
    pack or push left out of the metadata is also issued as a ``MetadataWarning``."""
    data = json.loads(text)
    if kind in _LISTS:
        item = _LISTS[kind]
        return [item(row) for row in data]
    if isinstance(data, dict):
        from .errors import MetadataWarning

        for message in data.get("warnings") or ():
            warnings.warn(message, MetadataWarning, stacklevel=3)
    return _KINDS[kind](data)
