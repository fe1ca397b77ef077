"""RFC 9162 §2.1 trees and proofs, tested the way transparency logs test theirs: every leaf of every
tree size, every proof verifies, and every corruption of every proof fails."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icspa_desktop.custody import merkle
from icspa_desktop.custody.merkle import (
    EMPTY_ROOT,
    Frontier,
    MerkleTree,
    ProofError,
    hash_children,
    hash_leaf,
    verify_consistency,
    verify_inclusion,
)


# ---- a reference straight from the RFC's recursive definitions ---------------------------------
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def leaves_for(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def tree_for(n: int) -> tuple[list[bytes], MerkleTree]:
    leaves = leaves_for(n)
    return leaves, MerkleTree([hash_leaf(x) for x in leaves])


MAX_EXHAUSTIVE = 70


# ---- RFC 6962 / 9162 test vectors (the 8-leaf tree used by CT implementations) ------------------
CT_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_known_roots_of_the_ct_reference_tree() -> None:
    for n in range(1, 9):
        tree = MerkleTree([hash_leaf(x) for x in CT_LEAVES[:n]])
        assert tree.root().hex() == CT_ROOTS[n - 1]
        assert merkle.root_of(hash_leaf(x) for x in CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]


def test_known_inclusion_and_consistency_proofs() -> None:
    tree = MerkleTree([hash_leaf(x) for x in CT_LEAVES])
    assert [p.hex() for p in tree.inclusion_proof(0, 8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert [p.hex() for p in tree.consistency_proof(1, 8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert [p.hex() for p in tree.consistency_proof(6, 8)] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]


def test_empty_tree() -> None:
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert Frontier().root() == EMPTY_ROOT
    verify_consistency(0, 5, EMPTY_ROOT, tree_for(5)[1].root(), [])


# ---- every size, every leaf: agreement with the reference and verification --------------------
@pytest.mark.parametrize("n", range(1, MAX_EXHAUSTIVE + 1))
def test_roots_and_proofs_match_the_rfc_definitions(n: int) -> None:
    leaves, tree = tree_for(n)
    assert tree.root() == ref_mth(leaves)
    frontier = Frontier()
    for i, leaf in enumerate(leaves):
        frontier.push(hash_leaf(leaf))
        assert frontier.root() == tree.root(i + 1) == ref_mth(leaves[: i + 1])
    for m in range(n):
        assert tree.inclusion_proof(m) == ref_path(m, leaves)
    for m in range(1, n + 1):
        assert tree.consistency_proof(m) == ref_subproof(m, leaves, True)


def _shape(index: int, size: int) -> list[bool]:
    """Per level from the root: is the leaf in the left subtree (RFC 9162 recursion)."""
    shape: list[bool] = []
    while size > 1:
        k = _k(size)
        shape.append(index < k)
        if index < k:
            size = k
        else:
            index, size = index - k, size - k
    return shape


def _inclusion_corruptions(index: int, size: int, proof: list[bytes]) -> list[tuple[str, int, int, list[bytes]]]:
    bad: list[tuple[str, int, int, list[bytes]]] = []
    for i, node in enumerate(proof):
        for byte in range(len(node)):
            flipped = bytearray(node)
            flipped[byte] ^= 0x01
            bad.append((f"flip node {i} byte {byte}", index, size, [*proof[:i], bytes(flipped), *proof[i + 1:]]))
        bad.append((f"drop node {i}", index, size, proof[:i] + proof[i + 1:]))
        bad.append((f"duplicate node {i}", index, size, [*proof[: i + 1], node, *proof[i + 1:]]))
        bad.append((f"truncate node {i}", index, size, [*proof[:i], node[:-1], *proof[i + 1:]]))
    bad.append(("append a node", index, size, [*proof, b"\x00" * 32]))
    bad.append(("prepend a node", index, size, [b"\x00" * 32, *proof]))
    if len(proof) > 1:
        bad.append(("reversed", index, size, proof[::-1]))
    for other in {index - 1, index + 1, index ^ 1, size, -1}:
        if other != index:
            bad.append((f"index {other}", other, size, proof))
    for other in {size - 1, size + 1, size * 2, 0}:
        # A wrong size is only a corruption when it changes the path's shape: leaf 0 of a 3-leaf tree
        # has the same path as in a 4-leaf tree, and the root (bound to the size by the checkpoint) decides.
        if other != size and other > index and _shape(index, other) != _shape(index, size):
            bad.append((f"size {other}", index, other, proof))
    bad.append(("size 0", index, 0, proof))
    return bad


@pytest.mark.parametrize("n", range(1, MAX_EXHAUSTIVE + 1))
def test_every_inclusion_proof_verifies_and_every_corruption_fails(n: int) -> None:
    leaves, tree = tree_for(n)
    root = tree.root()
    for m in range(n):
        leaf = hash_leaf(leaves[m])
        proof = tree.inclusion_proof(m)
        verify_inclusion(m, n, leaf, proof, root)
        for what, index, size, bad in _inclusion_corruptions(m, n, proof):
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaf, bad, root)
                pytest.fail(f"corruption accepted: {what} (leaf {m}, size {n})")
        with pytest.raises(ProofError):
            verify_inclusion(m, n, hash_leaf(leaves[m] + b"x"), proof, root)
        with pytest.raises(ProofError):
            verify_inclusion(m, n, leaf, proof, hash_leaf(b"other root"))


def _cshape(m: int, n: int) -> tuple[bool, list[bool]]:
    """The decisions RFC 9162 §2.1.4.2 takes for sizes m → n (power-of-two prefix, left/right steps)."""
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    steps: list[bool] = []
    while sn:
        left = bool(fn & 1 or fn == sn)
        steps.append(left)
        if left and not fn & 1:
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        fn, sn = fn >> 1, sn >> 1
    return m & (m - 1) == 0, steps


def _consistency_corruptions(m: int, n: int, proof: list[bytes]) -> list[tuple[str, int, int, list[bytes]]]:
    bad: list[tuple[str, int, int, list[bytes]]] = []
    for i, node in enumerate(proof):
        for byte in range(len(node)):
            flipped = bytearray(node)
            flipped[byte] ^= 0x80
            bad.append((f"flip node {i} byte {byte}", m, n, [*proof[:i], bytes(flipped), *proof[i + 1:]]))
        bad.append((f"drop node {i}", m, n, proof[:i] + proof[i + 1:]))
        bad.append((f"duplicate node {i}", m, n, [*proof[: i + 1], node, *proof[i + 1:]]))
    bad.append(("append a node", m, n, [*proof, b"\x00" * 32]))
    bad.append(("prepend a node", m, n, [b"\x00" * 32, *proof]))
    if len(proof) > 1 and proof != proof[::-1]:
        bad.append(("reversed", m, n, proof[::-1]))
    # As for inclusion proofs: a wrong size is a corruption only where it changes the proof's shape.
    for other in {m - 1, m + 1, m * 2}:
        if 0 < other < n and other != m and _cshape(other, n) != _cshape(m, n):
            bad.append((f"old size {other}", other, n, proof))
    for other in {n - 1, n + 1, n * 2}:
        if other > m and other != n and _cshape(m, other) != _cshape(m, n):
            bad.append((f"new size {other}", m, other, proof))
    bad.append(("sizes swapped", n, m, proof))
    return bad


@pytest.mark.parametrize("n", range(2, MAX_EXHAUSTIVE + 1))
def test_every_consistency_proof_verifies_and_every_corruption_fails(n: int) -> None:
    _, tree = tree_for(n)
    new_root = tree.root()
    for m in range(1, n):
        old_root = tree.root(m)
        proof = tree.consistency_proof(m)
        verify_consistency(m, n, old_root, new_root, proof)
        for what, old, new, bad in _consistency_corruptions(m, n, proof):
            with pytest.raises(ProofError):
                verify_consistency(old, new, old_root, new_root, bad)
                pytest.fail(f"corruption accepted: {what} ({m} → {n})")
        with pytest.raises(ProofError):
            verify_consistency(m, n, tree.root(m - 1) if m > 1 else hash_leaf(b"x"), new_root, proof)
        with pytest.raises(ProofError):
            verify_consistency(m, n, old_root, tree.root(n - 1), proof)
    # Equal sizes: empty proof and equal roots only.
    verify_consistency(n, n, new_root, new_root, [])
    with pytest.raises(ProofError):
        verify_consistency(n, n, new_root, new_root, [new_root])
    with pytest.raises(ProofError):
        verify_consistency(n, n, new_root, tree.root(n - 1), [])


@pytest.mark.parametrize("n", [127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025])
def test_larger_trees_sampled_leaves(n: int) -> None:
    leaves, tree = tree_for(n)
    root = tree.root()
    assert root == ref_mth(leaves)
    for m in sorted({0, 1, n // 3, n // 2, n - 2, n - 1}):
        proof = tree.inclusion_proof(m)
        assert proof == ref_path(m, leaves)
        verify_inclusion(m, n, hash_leaf(leaves[m]), proof, root)
        for _, index, size, bad in _inclusion_corruptions(m, n, proof)[::7]:
            with pytest.raises(ProofError):
                verify_inclusion(index, size, hash_leaf(leaves[m]), bad, root)
        if m:
            cproof = tree.consistency_proof(m)
            verify_consistency(m, n, tree.root(m), root, cproof)
            for _, old, new, bad in _consistency_corruptions(m, n, cproof)[::7]:
                with pytest.raises(ProofError):
                    verify_consistency(old, new, tree.root(m), root, bad)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 3000), data=st.data())
def test_random_trees_random_proofs(n: int, data: st.DataObject) -> None:
    _, tree = tree_for(n)
    m = data.draw(st.integers(0, n - 1))
    size = data.draw(st.integers(m + 1, n))
    verify_inclusion(m, size, tree.leaf_hash(m), tree.inclusion_proof(m, size), tree.root(size))
    old = data.draw(st.integers(1, size))
    verify_consistency(old, size, tree.root(old), tree.root(size), tree.consistency_proof(old, size))
    flip = data.draw(st.integers(0, 255))
    proof = tree.consistency_proof(old, size)
    if proof:
        i = flip % len(proof)
        node = bytearray(proof[i])
        node[flip % 32] ^= 1 << (flip % 8)
        with pytest.raises(ProofError):
            verify_consistency(old, size, tree.root(old), tree.root(size), [*proof[:i], bytes(node), *proof[i + 1:]])


def test_append_extends_and_frontier_round_trips() -> None:
    tree = MerkleTree()
    frontier = Frontier()
    for i in range(300):
        leaf = hash_leaf(str(i).encode())
        tree.append(leaf)
        frontier.push(leaf)
        assert tree.root() == frontier.root()
        again = Frontier.from_bytes(frontier.size, frontier.to_bytes())
        assert again.root() == frontier.root()
    assert tree.size == 300
    with pytest.raises(ValueError, match="set bit"):
        Frontier(3, [b"\x00" * 32])


def test_node_hashes_use_the_rfc_prefixes() -> None:
    a, b = hash_leaf(b"a"), hash_leaf(b"b")
    assert a == hashlib.sha256(b"\x00a").digest()
    assert hash_children(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert MerkleTree([a, b]).root() == hash_children(a, b)


def test_bad_requests_raise() -> None:
    _, tree = tree_for(5)
    with pytest.raises(ValueError):
        tree.inclusion_proof(5)
    with pytest.raises(ValueError):
        tree.consistency_proof(6)
    with pytest.raises(ValueError):
        tree.root(6)
    with pytest.raises(ValueError):
        MerkleTree(b"\x00" * 31)
