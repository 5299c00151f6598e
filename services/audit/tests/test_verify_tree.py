"""The tree `verify` recomputes is written for speed apart from the kernel's Frontier; it
must be the same RFC 6962 tree at every size, and keep every complete subtree."""

from __future__ import annotations

import hashlib

from pathways.policy.ledger.merkle import Frontier, inclusion_proof, root_of
from pathways.policy.ledger.verifier import leaf_hash, verify_inclusion
from pathways_audit.verify import _Tree


def test_the_verify_tree_equals_the_reference_at_every_size_and_keeps_its_subtrees() -> None:
    tree, frontier, leaves = _Tree(), Frontier(), []
    for i in range(300):
        digest = leaf_hash(hashlib.sha256(str(i).encode()).digest())
        leaves.append(digest)
        tree.append(digest)
        nodes = frontier.append(digest)
        assert tree.size == frontier.size == i + 1
        assert tree.root(tree.size) == frontier.root() == root_of(leaves)
        for level, index, node in nodes:  # every node the kernel emits, the verify tree holds
            assert tree.read(level, index) == node
    for size in (1, 2, 3, 7, 64, 65, 255, 300):  # roots of earlier sizes, as checkpoints ask for them
        assert tree.root(size) == root_of(leaves[:size])
        for index in (0, size // 2, size - 1):
            verify_inclusion(leaves[index], index, size, inclusion_proof(index, size, tree.read), root_of(leaves[:size]))
