"""Near-duplicate detection: syndicated and reprinted copies of one story form one *copy cluster*.

Each article gets a MinHash signature (datasketch) over its word shingles; the
signature is cut into LSH bands whose hashes are stored in SQLite
(``article_bands``, indexed by band and hash), so finding candidate copies is
one SQL lookup and a restart rebuilds nothing. Candidates whose estimated
Jaccard similarity reaches :data:`THRESHOLD` are copies. A copy cluster is a
connected component of copies, named by its smallest article id, so the
clusters do not depend on the order articles arrive in.

An independent source is a distinct copy cluster; the outlets that carried each
copy are the articles' URL hosts (or their ``source`` when there is no URL).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from datasketch import MinHash

__all__ = ["NUM_PERM", "BANDS", "ROWS", "SHINGLE", "THRESHOLD", "shingles", "signature", "band_hashes",
           "similarity", "outlet_of", "assign_cluster"]

NUM_PERM = 128
BANDS, ROWS = 32, 4  # candidate probability 0.87 at Jaccard 0.5, 0.99 at 0.6, 0.05 at 0.2
SHINGLE = 4  # words per shingle
THRESHOLD = 0.5  # estimated Jaccard similarity at or above which two articles are copies
SEED = 6
_WORD = re.compile(r"\w+")
SCHEME = "affine32"
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations  # computed once, shared


def shingles(text: str, k: int = SHINGLE) -> set[bytes]:
    """Lower-cased word k-grams of ``text`` (the whole text when it has fewer than k words)."""
    words = _WORD.findall(text.casefold())
    if not words:
        return set()
    return {" ".join(words[i:i + k]).encode() for i in range(max(1, len(words) - k + 1))}


def signature(text: str) -> tuple[np.ndarray, int]:
    """The MinHash hash values of ``text`` and its number of shingles."""
    sh = shingles(text)
    m = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_PERMUTATIONS, scheme=SCHEME)
    if sh:
        m.update_batch(list(sh))
    return m.hashvalues.astype(np.uint64), len(sh)


def band_hashes(values: np.ndarray) -> list[int]:
    """One signed 64-bit hash per LSH band (SQLite integers are signed)."""
    out = []
    for b in range(BANDS):
        chunk = values[b * ROWS:(b + 1) * ROWS].tobytes()
        out.append(int.from_bytes(hashlib.blake2b(chunk, digest_size=8).digest(), "big", signed=True))
    return out


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.count_nonzero(a == b)) / len(a)


def outlet_of(url: str | None, source: str | None) -> str:
    """The outlet that published an article: its URL host without ``www.``, else its source name."""
    host = (urlsplit(url).hostname or "") if url else ""
    host = host.removeprefix("www.")
    return host or (source or "")


def assign_cluster(db: Any, article_id: str, text: str, outlet: str, now: str) -> tuple[str, list[str]]:
    """Store the article's signature and bands (inside the caller's transaction).

    Returns its cluster id and the ids of the clusters merged into it (their articles changed cluster).

    Idempotent: an article already signed keeps its cluster. Joining two clusters renames
    the larger id to the smaller one, so the final clusters are independent of order.
    """
    row = db.execute("select cluster_id from article_signatures where article_id = ?", [article_id]).fetchone()
    if row:
        return str(row[0]), []
    values, n = signature(text)
    bands = band_hashes(values)
    clusters = {article_id}
    if n:
        marks = " or ".join("(band = ? and hash = ?)" for _ in bands)
        params: list[Any] = [x for b, h in enumerate(bands) for x in (b, h)]
        cands = db.execute(
            f"select distinct s.article_id, s.cluster_id, s.minhash from article_bands b "
            f"join article_signatures s on s.article_id = b.article_id where {marks}", params).fetchall()
        for _cid, cluster, blob in cands:
            if similarity(values, np.frombuffer(blob, dtype=np.uint64)) >= THRESHOLD:
                clusters.add(str(cluster))
    cluster = min(clusters)
    others = sorted(clusters - {cluster, article_id})
    if others:
        db.execute(f"update article_signatures set cluster_id = ? where cluster_id in "
                   f"({', '.join('?' for _ in others)})", [cluster, *others])
    db.execute("insert into article_signatures (article_id, cluster_id, outlet, shingles, minhash, created_at) "
               "values (?, ?, ?, ?, ?, ?)", [article_id, cluster, outlet, n, values.tobytes(), now])
    if n:
        rows = ", ".join("(?, ?, ?)" for _ in bands)
        db.execute(f"insert into article_bands (band, hash, article_id) values {rows}",
                   [x for b, h in enumerate(bands) for x in (b, h, article_id)])
    return cluster, others
