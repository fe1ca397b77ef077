"""RFC 9162 §2.1 Merkle trees: tree hash, inclusion proofs, consistency proofs, and their verification.

Leaves are given as their leaf hashes (``SHA-256(0x00 || leaf)``, see ``custody.events.leaf_hash``);
interior nodes are ``SHA-256(0x01 || left || right)``. The split point of a tree of n > 1 leaves is
the largest power of two smaller than n, so every left subtree is perfect.

``MerkleTree`` keeps the hashes of every perfect, aligned subtree (level by level, each level one
``bytearray``), so any subtree hash — and so any proof — costs O(log n) after one O(n) build.
``Frontier`` is the one-pass, constant-memory form (a stack of perfect subtree hashes) used to
compute a root while streaming leaves, and to resume from a saved state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify (wrong length, wrong node, wrong index or size)."""


def hash_leaf(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """Streaming tree hash: push leaf hashes in order; ``root()`` at any time. O(log n) memory."""

    __slots__ = ("_stack", "size")

    def __init__(self, size: int = 0, stack: Sequence[bytes] = ()) -> None:
        if len(stack) != bin(size).count("1"):
            raise ValueError("a frontier of this size needs one hash per set bit of the size")
        self.size = size
        # The perfect subtrees of the binary decomposition of size, largest (leftmost) first.
        self._stack: list[bytes] = list(stack)

    def push(self, leaf_hash: bytes) -> None:
        node = leaf_hash
        n = self.size
        stack = self._stack
        while n & 1:
            node = hashlib.sha256(b"\x01" + stack.pop() + node).digest()
            n >>= 1
        stack.append(node)
        self.size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf in leaf_hashes:
            self.push(leaf)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = hash_children(left, node)
        return node

    def to_bytes(self) -> bytes:
        return b"".join(self._stack)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        if len(data) % HASH_SIZE:
            raise ValueError("frontier data is not a whole number of hashes")
        return cls(size, [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])

    def copy(self) -> Frontier:
        return Frontier(self.size, self._stack)


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH of the leaves, in one pass."""
    frontier = Frontier()
    frontier.extend(leaf_hashes)
    return frontier.root()


class MerkleTree:
    """All perfect aligned subtree hashes of a list of leaf hashes, for O(log n) proofs."""

    def __init__(self, leaf_hashes: bytes | bytearray | Iterable[bytes] = b"") -> None:
        level0 = bytearray(leaf_hashes) if isinstance(leaf_hashes, bytes | bytearray) else bytearray(
            b"".join(leaf_hashes))
        if len(level0) % HASH_SIZE:
            raise ValueError("leaf hash data is not a whole number of 32-byte hashes")
        self._levels: list[bytearray] = [level0]
        self._complete()

    def _complete(self) -> None:
        """Extend every level above the leaves to cover all complete pairs of the level below."""
        h = 0
        while len(self._levels[h]) >= 2 * HASH_SIZE:
            below = self._levels[h]
            if h + 1 == len(self._levels):
                self._levels.append(bytearray())
            above = self._levels[h + 1]
            pairs = len(below) // (2 * HASH_SIZE)
            sha = hashlib.sha256
            for i in range(len(above) // HASH_SIZE, pairs):
                start = 2 * i * HASH_SIZE
                above += sha(b"\x01" + below[start:start + 2 * HASH_SIZE]).digest()
            h += 1

    def append(self, leaf_hash: bytes) -> None:
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError("a leaf hash has 32 bytes")
        self._levels[0] += leaf_hash
        self._complete()

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is outside a tree of {self.size} leaves")
        return bytes(self._levels[0][index * HASH_SIZE:(index + 1) * HASH_SIZE])

    def _perfect(self, start: int, height: int) -> bytes:
        """The hash of the perfect subtree of 2**height leaves beginning at ``start`` (aligned)."""
        pos = (start >> height) * HASH_SIZE
        return bytes(self._levels[height][pos:pos + HASH_SIZE])

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range whose start is a multiple of the largest power of two ≤ its size,
        which holds for every subtree the RFC 9162 recursion visits."""
        n = end - start
        if n <= 0:
            if n == 0 and start == 0:
                return EMPTY_ROOT
            raise ValueError("empty or negative range")
        if n & (n - 1) == 0:
            return self._perfect(start, n.bit_length() - 1)
        k = _split(n)
        return hash_children(self._perfect(start, k.bit_length() - 1), self.subtree_hash(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all leaves by default)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        return self.subtree_hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) — RFC 9162 §2.1.3.1."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"no inclusion proof for leaf {index} in a tree of {size} leaves")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self.subtree_hash(start + k, end))
                end = start + k
            else:
                path.append(self.subtree_hash(start, start + k))
                start += k
        path.reverse()  # the RFC lists the path from the leaf upwards
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) — RFC 9162 §2.1.4.1 (empty when the sizes are equal or old is 0)."""
        new_size = self.size if new_size is None else new_size
        if not 0 <= old_size <= new_size <= self.size:
            raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, new_size, old_size, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self.subtree_hash(start + k, end))
                end = start + k
            else:
                proof.append(self.subtree_hash(start, start + k))
                start += k
                m -= k
                complete = False
        if not complete:
            proof.append(self.subtree_hash(start, end))
        proof.reverse()
        return proof


def _check_hash(node: bytes) -> None:
    if len(node) != HASH_SIZE:
        raise ProofError("a proof node is not a 32-byte hash")


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof — RFC 9162 §2.1.3.2; ProofError if it is malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    _check_hash(leaf_hash)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        _check_hash(p)
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless ``proof`` shows leaf ``index`` of the tree of ``size`` leaves with ``root``."""
    if root_from_inclusion_proof(index, size, leaf_hash, proof) != root:
        raise ProofError("the inclusion proof does not lead to the expected root hash")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 §2.1.4.2 for 0 < old_size < new_size. Equal sizes need an empty proof and equal roots;
    an empty old tree is a prefix of every tree (empty proof).
    """
    _check_hash(old_root)
    _check_hash(new_root)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {old_size} leaves cannot be a prefix of one of {new_size}")
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between these sizes must be empty")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("the root hash of an empty tree is wrong")
        if old_size == new_size and old_root != new_root:
            raise ProofError("two trees of the same size have different root hashes")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    for node in proof:
        _check_hash(node)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError("the consistency proof does not lead to the old root hash")
    if sr != new_root:
        raise ProofError("the consistency proof does not lead to the new root hash")
