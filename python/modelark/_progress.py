"""``progress=True``: tqdm bars (``pip install modelark[progress]``)."""

from __future__ import annotations

from typing import Any, Callable, Optional


def bars() -> Callable[[Any], None]:
    """A progress callback that draws one tqdm bar for the whole transfer."""
    try:
        from tqdm.auto import tqdm
    except ImportError as e:  # pragma: no cover - depends on the environment
        from .errors import UsageError

        raise UsageError("progress=True needs tqdm: pip install 'modelark[progress]'") from e
    state: dict[str, Optional[Any]] = {"bar": None}

    def update(progress: Any) -> None:
        bar = state["bar"]
        if bar is None:
            if progress.total == 0 and progress.finished:
                return
            bar = tqdm(total=progress.total, unit="B", unit_scale=True, unit_divisor=1024)
            state["bar"] = bar
        if progress.total > bar.total:
            bar.total = progress.total
        bar.update(progress.done - bar.n)
        if progress.finished:
            bar.close()

    return update
