"""RFC 6962 Merkle tree maths for the audit ledger: the incremental tree and proof generation.

Vocabulary. The tree is over leaf *hashes* (see verifier.leaf_hash). A perfect node
(level L, index i) is the root of the complete subtree over leaves [i·2^L, (i+1)·2^L);
level 0 holds the leaf hashes themselves. A tree of n leaves contains exactly the perfect
nodes with (i+1)·2^L <= n, and those are what the ledger stores: they never change once
written, so the store is append-only like the log. Every other hash a root or a proof
needs (the "ephemeral" nodes on the right border of a tree whose size is not a power of
two) is recomputed here from O(log n) stored perfect nodes.

Verification lives in verifier.py, which is standalone; this module only produces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from pathways.policy.ledger.verifier import EMPTY_ROOT, leaf_hash, node_hash

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "NodeReader",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "root_at",
    "root_of",
    "subtree_root",
]

NodeReader = Callable[[int, int], bytes]
"""read(level, index) -> the stored hash of perfect node (level, index)."""

_sha256 = hashlib.sha256
_NODE_PREFIX = b"\x01"


def _split(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2): RFC 6962's k, where MTH splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of a list of leaf hashes, straight from the RFC 6962 §2.1 recursive definition.

    It is the slow, obviously-correct reference the faster code is tested against (and is
    fine for small lists).
    """
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def perfect_subtrees(size: int) -> list[tuple[int, int]]:
    """The (level, index) of the perfect subtrees that exactly tile leaves [0, size), left to right.

    There is one per set bit of `size`, largest first; together they are the tree's
    "frontier" (compact range [0, size)), and folding their hashes right-to-left gives the root.
    """
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    out: list[tuple[int, int]] = []
    for level in range(size.bit_length() - 1, -1, -1):
        if (size >> level) & 1:
            out.append((level, (size >> level) - 1))
    return out


class Frontier:
    """The right edge of an append-only Merkle tree: the hashes of its perfect_subtrees(size).

    This is all the state needed to append leaves and compute the current root, so the
    ledger's writer keeps one in memory and persists the perfect nodes each append reports.
    Appending is amortised one node hash per leaf (a carry chain, like incrementing a
    binary counter), and it is on the ingest hot path, so append is written for speed.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self) -> None:
        self.size: int = 0
        # Hashes of perfect_subtrees(size), left to right (largest subtree first).
        self._hashes: list[bytes] = []

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf; return every perfect node this completes, lowest first.

        The first entry is always the leaf itself, (0, index, leaf_hash); each further one is
        a (level, index, hash) that has just become complete, i.e. exactly the nodes the ledger
        must now store. The caller must pass a 32-byte leaf hash (not checked, for speed).
        """
        size = self.size
        self.size = size + 1
        hashes = self._hashes
        if not size & 1:
            # Even size: the new leaf completes nothing above itself (half of all appends).
            hashes.append(leaf_hash)
            return [(0, size, leaf_hash)]
        out = [(0, size, leaf_hash)]
        h = leaf_hash
        level = 0
        index = size
        pop = hashes.pop
        while size & 1:
            h = _sha256(_NODE_PREFIX + pop() + h).digest()
            level += 1
            index >>= 1
            size >>= 1
            out.append((level, index, h))
        hashes.append(h)
        return out

    def root(self) -> bytes:
        """MTH of the leaves so far: fold the frontier right to left; EMPTY_ROOT when empty."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        h = hashes[-1]
        for left in reversed(hashes[:-1]):
            h = _sha256(_NODE_PREFIX + left + h).digest()
        return h

    def nodes(self) -> list[tuple[int, int, bytes]]:
        """The frontier as (level, index, hash), left to right: the perfect_subtrees(size) with their hashes."""
        return [(level, index, h) for (level, index), h in zip(perfect_subtrees(self.size), self._hashes, strict=True)]

    def copy(self) -> Frontier:
        """An independent copy, e.g. to compute a speculative root without disturbing the original."""
        other = Frontier()
        other.size = self.size
        other._hashes = self._hashes.copy()
        return other

    @classmethod
    def from_nodes(cls, size: int, read: NodeReader) -> Frontier:
        """Rebuild the frontier of a stored tree of `size` leaves (e.g. on restart) from its perfect nodes.

        Reads exactly one node per set bit of `size`.
        """
        frontier = cls()
        frontier._hashes = [read(level, index) for level, index in perfect_subtrees(size)]
        frontier.size = size
        return frontier

    def __repr__(self) -> str:
        return f"Frontier(size={self.size})"


def subtree_root(begin: int, end: int, read: NodeReader) -> bytes:
    """MTH(D[begin:end]) computed from stored perfect nodes.

    For the subtrees RFC 6962 proofs are made of (begin a multiple of the smallest power of
    two >= end - begin, which includes every [0, n)) this takes one read per set bit of
    end - begin, i.e. O(log n). Any other range is still computed correctly, just with
    more reads. Only nodes lying wholly inside [begin, end) are read, so any tree of at
    least `end` leaves has them. An empty range gives EMPTY_ROOT, like MTH({}).
    """
    if begin < 0 or end < begin:
        raise ValueError(f"bad leaf range [{begin}, {end})")
    if begin == end:
        return EMPTY_ROOT
    return _subtree_root(begin, end, read)


def _subtree_root(begin: int, end: int, read: NodeReader) -> bytes:
    n = end - begin
    if n & (n - 1) == 0 and begin & (n - 1) == 0:
        level = n.bit_length() - 1
        return read(level, begin >> level)
    k = _split(n)
    return node_hash(_subtree_root(begin, begin + k, read), _subtree_root(begin + k, end, read))


def root_at(size: int, read: NodeReader) -> bytes:
    """The root of the tree when it had `size` leaves, from the stored perfect nodes (any later tree has them)."""
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    return subtree_root(0, size, read)


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """RFC 6962 PATH(index, D[size]): the audit path proving leaf `index` is in the tree of `size` leaves.

    Ordered leaf-to-root, as verifier.verify_inclusion expects. At most one element (the
    sibling where the path leaves the tree's right border) is not a stored perfect node and
    is recomputed with subtree_root, so this costs O(log size) reads. Raises ValueError
    unless 0 <= index < size.
    """
    if index < 0 or size < 0 or index >= size:
        raise ValueError(f"no inclusion proof for leaf {index} in a tree of size {size}: need 0 <= index < size")
    proof: list[bytes] = []
    begin, end = 0, size
    # Walk down from the root, recording the sibling of the half that holds `index`.
    while end - begin > 1:
        mid = begin + _split(end - begin)
        if index < mid:
            proof.append(subtree_root(mid, end, read))
            end = mid
        else:
            proof.append(subtree_root(begin, mid, read))
            begin = mid
    proof.reverse()
    return proof


def consistency_proof(size1: int, size2: int, read: NodeReader) -> list[bytes]:
    """RFC 6962 PROOF(size1, D[size2]) (via SUBPROOF): proves the tree of size1 is a prefix of the tree of size2.

    Ordered as verifier.verify_consistency expects. Empty when size1 == size2. Raises
    ValueError unless 0 < size1 <= size2: a proof "from the empty tree" is not defined by
    the RFC (and the verifier accepts size1 == 0 only with an empty proof anyway).
    """
    if size1 < 0 or size2 < 0 or size1 > size2:
        raise ValueError(f"no consistency proof from tree size {size1} to {size2}: need size1 <= size2")
    if size1 == 0:
        raise ValueError("no consistency proof from the empty tree: RFC 6962 defines PROOF(m, D[n]) only for m > 0")
    proof: list[bytes] = []
    begin, end = 0, size2
    known = True  # SUBPROOF's b: is the current subtree's old version exactly the old root?
    # Invariant: begin < size1 <= end.
    while size1 != end:
        mid = begin + _split(end - begin)
        if size1 <= mid:
            proof.append(subtree_root(mid, end, read))
            end = mid
        else:
            proof.append(subtree_root(begin, mid, read))
            begin = mid
            known = False
    if not known:
        proof.append(subtree_root(begin, end, read))
    proof.reverse()
    return proof
