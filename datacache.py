"""Decoded data sets in the project cache: arrays a slow decoder made (MNIST's images decoded and normalised, a CSV
table parsed), stored once and read back by later runs while the files they came from are unchanged.

An entry is a folder of .npy files, `CACHE/decoded/<kind>-<tag>-<key>`; the tag is a hash of ENTRY_FORMAT and the
decoder's own version strings, the key SHA-256 over them and the contents of its source files, so a changed file,
library or decoder gives a new key. A store removes the entries of the same kind and tag (earlier contents of the
same files) and keeps those of other tags: another version of this code or of its libraries (another checkout or
environment sharing the cache) keeps its own entry, where each used to remove the other's at every run. Entries
are written to a temporary folder and renamed into place, so a crash or a parallel run never leaves a partial one; a
temporary folder that a killed writer left behind is removed by a later store once an hour old. Each entry keeps
the SHA-256 of its arrays (DIGEST_FILE), checked whenever it is read: an entry that lacks one of its arrays, or
whose arrays were changed since, is decoded again. An entry is stored only when its source files still hash to the
key after decoding, so a file edited while it was read never leaves its new content under the old content's key."""
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ENTRY_FORMAT = "badge-decoded-2"
DIGEST_FILE = "sha256.txt"
CHUNK = 1 << 20
KEY_LENGTH = 32
TAG_LENGTH = 8
STALE_WRITE_SECONDS = 3600  # a temporary folder untouched this long was left by a writer that was killed


def cache_dir():
    """The project's cache folder: $BADGE_CACHE, else (unset or empty) ~/.cache/badge."""
    return Path(os.environ.get("BADGE_CACHE") or Path.home() / ".cache" / "badge")


def file_sha256(path):
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def path_tag(path):
    """A short tag of a resolved path: entries decoded from different folders get different kinds."""
    return hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:12]


def entry_key(sources, versions):
    """SHA-256 over ENTRY_FORMAT, the version strings and each source file's name and content hash."""
    h = hashlib.sha256(ENTRY_FORMAT.encode())
    for text in versions:
        h.update(b"\0" + str(text).encode())
    for path in sources:
        h.update(b"\0" + Path(path).name.encode() + b"\0" + file_sha256(path).encode())
    return h.hexdigest()[:KEY_LENGTH]


def version_tag(versions):
    """A short hash of ENTRY_FORMAT and the version strings: the entries one version of the decoding makes."""
    return hashlib.sha256("\0".join([ENTRY_FORMAT, *map(str, versions)]).encode()).hexdigest()[:TAG_LENGTH]


def arrays_digest(arrays, names):
    """SHA-256 over the arrays `names` of the dict `arrays`, in that order: each one's dtype, shape and bytes."""
    h = hashlib.sha256()
    for name in names:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.data)
    return h.hexdigest()


def cached_arrays(kind, sources, versions, decode, names):
    """The dict of arrays `decode()` returns for these source files, whose keys are `names`: read from the entry of
    `kind` when one exists for their current contents and `versions` (mapped copy-on-write: pages are read when
    first touched, and writes stay private) and holds every one of them as stored, else decoded and stored there
    (the store is skipped, silently, when the cache cannot be written or a source changed while it was read)."""
    key, family = entry_key(sources, versions), f"{kind}-{version_tag(versions)}"
    folder = cache_dir() / "decoded" / f"{family}-{key}"
    if folder.is_dir():
        try:
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="c", allow_pickle=False) for name in names}
            if (folder / DIGEST_FILE).read_text() == arrays_digest(arrays, names):
                return arrays
        except (OSError, ValueError, EOFError):  # a file missing, truncated or not an array
            pass
        shutil.rmtree(folder, ignore_errors=True)  # decoded again
    arrays = decode()
    if entry_key(sources, versions) == key:
        store(folder, arrays, family, arrays_digest(arrays, names))
    return arrays


def store(folder, arrays, family, digest):
    """Write `arrays` as `folder`/<name>.npy, with their `digest` in DIGEST_FILE, through a temporary folder and one
    rename, then remove the other entries of `family` (kind and version tag: made from earlier contents of the
    same sources) and stale temporary folders. A Ctrl-C while
    it writes removes its temporary folder."""
    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".write-"))
        for name, value in arrays.items():
            np.save(tmp / f"{name}.npy", value, allow_pickle=False)
        (tmp / DIGEST_FILE).write_text(digest)
        os.replace(tmp, folder)
        tmp = None  # in place: nothing left to remove
    except OSError:  # a read-only cache, a full disk, or a parallel run's entry already in place
        return
    finally:  # also on a Ctrl-C while it writes
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    remove_stale_writes(folder.parent)
    for old in folder.parent.glob(f"{family}-*"):
        key = old.name[len(family) + 1:]
        if old != folder and len(key) == KEY_LENGTH and key.isalnum():
            shutil.rmtree(old, ignore_errors=True)


def remove_stale_writes(decoded):
    """Remove the temporary folders under `decoded` that no writer has touched for STALE_WRITE_SECONDS (left by a
    writer that was killed: a store takes seconds)."""
    now = time.time()
    for tmp in decoded.glob(".write-*"):
        try:
            if now - tmp.stat().st_mtime > STALE_WRITE_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:  # removed meanwhile by another run
            pass
