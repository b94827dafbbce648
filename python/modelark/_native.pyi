"""Type stubs of the native module (the library's use cases, in Rust)."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from typing_extensions import TypedDict, Unpack

from ._records import (
    DirReport,
    Diff,
    Event,
    Exported,
    Fetched,
    Graph,
    Hit,
    Imported,
    Inspected,
    KeyPair,
    ModelEntry,
    Moved,
    Packed,
    Progress,
    Pulled,
    Pushed,
    Removed,
    Report,
    RepositoryEntry,
    Signed,
    Statement,
    Tagged,
    Versions,
)

_Path = Union[str, "PathLike[str]"]
_Keys = Union[_Path, Sequence[_Path], None]
_ProgressArg = Union[bool, Callable[[Progress], Any], None]

class PackMetadata(TypedDict, total=False):
    """The metadata keywords of ``pack`` and ``push``: the CLI's metadata flags."""

    name: Optional[str]
    version: Optional[str]
    title: Optional[str]
    description: Optional[str]
    authors: Union[str, Sequence[str], None]
    licenses: Union[str, Sequence[str], None]
    framework: Optional[str]
    format: Optional[str]
    architecture: Optional[str]
    param_size: Optional[str]
    precision: Optional[str]
    quantization: Optional[str]
    task: Optional[str]
    tags: Union[str, Sequence[str], None]
    metrics: Optional[Dict[str, float]]
    source_repo: Optional[str]
    source_revision: Optional[str]
    datasets: Union[str, Sequence[str], None]
    training_run: Optional[str]
    parent: Optional[str]
    annotations: Optional[Dict[str, str]]
    kinds: Optional[Dict[str, str]]
    exclude: Union[str, Sequence[str], None]
    model_file: Optional[_Path]
    dereference: bool
    created: Optional[str]

class DecisionOptions(TypedDict, total=False):
    """The keyword options of ``approve`` and ``reject``: the CLI's flags."""

    password: Optional[str]
    approver: Optional[str]
    reason: Optional[str]
    ticket: Optional[str]
    expires: Optional[str]

def cli_main(argv: List[str]) -> int: ...
def version() -> str: ...

class Client:
    def __init__(
        self,
        home: Optional[_Path] = None,
        plain_http: bool = False,
        ca_file: Optional[_Path] = None,
        insecure: bool = False,
        offline: bool = False,
        *,
        concurrency: int = 4,
        docker_config: Optional[_Path] = None,
        registry_certs_dirs: Optional[Sequence[_Path]] = None,
        retries: int = 5,
        connect_timeout: float = 30.0,
        timeout: float = 60.0,
        read_timeout: float = 60.0,
        max_retry_wait: float = 60.0,
        chunk_size: Optional[int] = None,
        connections: Optional[int] = None,
        max_attachment_layers: int = 256,
        timestamp_server: Optional[str] = None,
        progress: _ProgressArg = None,
    ) -> None: ...
    @property
    def home(self) -> str: ...
    @property
    def offline(self) -> bool: ...
    def pack(
        self,
        path: _Path,
        reference: str,
        *,
        force: bool = False,
        progress: _ProgressArg = None,
        **metadata: Unpack[PackMetadata],
    ) -> Packed: ...
    def push(
        self,
        source: _Path,
        reference: str,
        *,
        force: bool = False,
        policy: Optional[_Path] = None,
        progress: _ProgressArg = None,
        **metadata: Unpack[PackMetadata],
    ) -> Pushed: ...
    def pull(
        self,
        reference: str,
        dest: Optional[_Path] = None,
        *,
        include: Optional[Sequence[str]] = None,
        policy: Optional[_Path] = None,
        keys: _Keys = None,
        force: bool = False,
        model_sig: bool = False,
        progress: _ProgressArg = None,
    ) -> Pulled: ...
    def fetch(
        self,
        reference: str,
        *,
        policy: Optional[_Path] = None,
        keys: _Keys = None,
        progress: _ProgressArg = None,
    ) -> str: ...
    def fetch_info(
        self,
        reference: str,
        *,
        policy: Optional[_Path] = None,
        keys: _Keys = None,
        progress: _ProgressArg = None,
    ) -> Fetched: ...
    def copy(
        self,
        source: str,
        target: str,
        *,
        policy: Optional[_Path] = None,
        keys: _Keys = None,
        force: bool = False,
        progress: _ProgressArg = None,
    ) -> Pushed: ...
    def inspect(self, reference: str) -> Inspected: ...
    def list(self, target: Optional[str] = None, *, all: bool = False) -> Union[List[ModelEntry], List[RepositoryEntry]]: ...
    def tag(self, source: str, target: str, *, force: bool = False) -> Tagged: ...
    def rm(self, reference: str) -> Removed: ...
    def export(self, reference: str, path: _Path) -> Exported: ...
    def import_archive(self, path: _Path, target: Optional[str] = None) -> List[Imported]: ...
    def sign(
        self,
        reference: str,
        *,
        key: _Path,
        password: Optional[str] = None,
        claims: Optional[Dict[str, str]] = None,
        format: str = "cosign",
    ) -> Signed: ...
    def attest(
        self,
        reference: str,
        *,
        key: _Path,
        type: str,
        predicate: Any = None,
        password: Optional[str] = None,
        format: str = "cosign",
    ) -> Signed: ...
    def approve(self, reference: str, *, environment: str, key: _Path, **options: Unpack[DecisionOptions]) -> Signed: ...
    def reject(self, reference: str, *, environment: str, key: _Path, **options: Unpack[DecisionOptions]) -> Signed: ...
    def verify(
        self,
        reference: str,
        *,
        keys: _Keys = None,
        policy: Optional[_Path] = None,
        claims: Optional[Dict[str, str]] = None,
    ) -> Report: ...
    def verify_dir(
        self,
        dir: _Path,
        *,
        keys: _Keys = None,
        policy: Optional[_Path] = None,
        signature: Optional[_Path] = None,
        threads: Optional[int] = None,
    ) -> DirReport: ...
    def verify_attestation(self, reference: str, *, keys: _Keys, type: str) -> List[Statement]: ...
    def versions(self, repository: str, *, keys: _Keys = None, policy: Optional[_Path] = None) -> Versions: ...
    def promote(
        self,
        reference: str,
        alias: str,
        *,
        key: _Path,
        password: Optional[str] = None,
        policy: Optional[_Path] = None,
        reason: Optional[str] = None,
        by: Optional[str] = None,
    ) -> Moved: ...
    def rollback(
        self,
        repository: str,
        alias: str,
        *,
        key: _Path,
        password: Optional[str] = None,
        policy: Optional[_Path] = None,
        reason: Optional[str] = None,
        by: Optional[str] = None,
    ) -> Moved: ...
    def history(
        self,
        repository: str,
        *,
        alias: Optional[str] = None,
        keys: _Keys = None,
        policy: Optional[_Path] = None,
    ) -> List[Event]: ...
    def lineage(
        self,
        reference: str,
        *,
        keys: _Keys = None,
        policy: Optional[_Path] = None,
        depth: int = 32,
    ) -> Graph: ...
    def search(
        self,
        scope: str,
        where: Union[str, Sequence[str], None] = None,
        *,
        text: Optional[str] = None,
        no_refresh: bool = False,
    ) -> List[Hit]: ...
    def diff(self, first: str, second: str) -> Diff: ...
    def generate_key_pair(self, prefix: str = "cosign", password: str = "", *, replace: bool = False) -> KeyPair: ...
