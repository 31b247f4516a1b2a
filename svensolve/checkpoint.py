"""Save and load solver checkpoints as .npz files, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

# Version 2 saves the start cost, and stores the trust radius in step_length.
FORMAT_VERSION = 2


def save(path, arrays: dict) -> None:
    """Write ``arrays`` to ``path`` through a temporary file and a rename.

    The rename is atomic on POSIX file systems, so a run killed while
    writing leaves the previous checkpoint intact instead of a torn file.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, format_version=FORMAT_VERSION, **arrays)
        # mkstemp makes the file private (0600). A checkpoint gets the mode
        # of any new file instead, so others on a shared machine can read it
        # wherever the umask lets them.
        os.chmod(temporary, _new_file_mode())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _new_file_mode() -> int:
    """Return the mode that ``open`` gives a new file: 0o666 less the process umask."""
    umask = os.umask(0)  # reading the umask means setting it, so set it back at once
    os.umask(umask)
    return 0o666 & ~umask


def load(path) -> dict:
    """Read a checkpoint written by `save`; raise with the path on a bad file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"resume: {str(path)!r} is a directory; pass the checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"resume: checkpoint file {str(path)!r} does not exist")
    not_checkpoint = (f"resume: {str(path)!r} is not a svensolve checkpoint; pass the .npz "
                      "file that a solve with checkpoint= wrote")
    try:
        arrays = _read_arrays(path)
    except (ValueError, OSError) as error:
        # numpy's own message suggests allow_pickle=True, which no checkpoint needs.
        raise ValueError(f"{not_checkpoint} ({type(error).__name__} from numpy)") from error
    if arrays is None:
        raise ValueError(f"{not_checkpoint} (it contains a single array)")
    if "format_version" not in arrays:
        raise ValueError(f"{not_checkpoint} (it has no format_version entry)")
    version = int(arrays.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise ValueError(
            f"resume: {str(path)!r} has checkpoint format {version}, expected {FORMAT_VERSION}"
        )
    return arrays


def _read_arrays(path: Path) -> dict | None:
    """Return every array of an .npz file by name, or None for an .npy file's single array."""
    loaded = np.load(path, allow_pickle=False)
    if not hasattr(loaded, "files"):
        return None
    # An .npz file reads each array only when it is asked for, so object
    # arrays fail here, not in np.load.
    with loaded as data:
        return {key: data[key] for key in data.files}
