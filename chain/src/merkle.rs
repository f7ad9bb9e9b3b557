//! The RFC 6962 / RFC 9162 Merkle tree over the log's entries: leaf and node hashing, the
//! root of n leaves, inclusion and consistency proofs, and their verification (RFC 9162
//! sections 2.1.3.2 and 2.1.4.2).
//!
//! Leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left || right), and the
//! empty tree's root is SHA-256 of the empty string.
//!
//! Two ways to compute the same proofs: over a slice of leaf hashes (the RFC's recursive
//! definition, the reference), and over a [`Subtrees`] source of stored perfect-subtree
//! hashes, which reads O(log n) hashes for a root or a proof at any size.

use sha2::{Digest as _, Sha256};

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};

/// A 32-byte tree hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256("").
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly less than `n` (n >= 2).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

fn split(leaves: &[Hash]) -> Result<(&[Hash], &[Hash])> {
    leaves
        .split_at_checked(split_point(leaves.len()))
        .ok_or(Error::Internal("Merkle split point past the end"))
}

fn to_usize(v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::InvalidArgument(format!("{v} does not fit in usize")))
}

/// The right edge of a tree: the roots of its perfect subtrees, left to right, one per
/// set bit of its size. Appending a leaf and computing the root are both O(log n), so a
/// growing chain never rehashes its history. Folding the subtrees from the right gives
/// the RFC's left-heavy tree; tests check it against the recursive definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (height, hash) of perfect subtrees, heights strictly decreasing left to right.
    subtrees: Vec<(u32, Hash)>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many leaves it covers.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_, _, _| {});
    }

    /// Appends one leaf hash and reports every perfect subtree it completes, as
    /// `(level, index, hash)`: the subtree of 2^level leaves starting at leaf
    /// `index << level`. These are the interior nodes a store keeps.
    pub fn push_with(&mut self, leaf: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let leaf_index = self.size;
        let mut height = 0;
        let mut hash = leaf;
        while let Some(&(top_height, top_hash)) = self.subtrees.last() {
            if top_height != height {
                break;
            }
            self.subtrees.pop();
            hash = node_hash(&top_hash, &hash);
            height += 1;
            completed(height, leaf_index >> height, &hash);
        }
        self.subtrees.push((height, hash));
        self.size += 1;
    }

    /// The frontier of the tree of `size` leaves, read from stored subtrees: one hash per
    /// set bit of `size`.
    pub fn from_subtrees(source: &(impl Subtrees + ?Sized), size: u64) -> Result<Self> {
        let mut subtrees = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1 << level) != 0 {
                subtrees.push((level, source.perfect(level, start >> level)?));
                start += 1 << level;
            }
        }
        Ok(Self { size, subtrees })
    }

    /// MTH over every leaf pushed so far.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.subtrees.iter().rev();
        let Some((_, last)) = subtrees.next() else {
            return empty_root();
        };
        subtrees.fold(*last, |acc, (_, left)| node_hash(left, &acc))
    }
}

/// MTH(D[n]): the root over these leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut frontier = Frontier::new();
    for leaf in leaves {
        frontier.push(*leaf);
    }
    frontier.root()
}

fn mth(leaves: &[Hash]) -> Result<Hash> {
    match leaves {
        [] => Ok(empty_root()),
        [one] => Ok(*one),
        _ => {
            let (l, r) = split(leaves)?;
            Ok(node_hash(&mth(l)?, &mth(r)?))
        }
    }
}

/// PATH(index, D[n]): the audit path for leaf `index` in the tree of all `leaves`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(Error::OutOfRange { index, size });
    }
    let mut out = Vec::new();
    path(to_usize(index)?, leaves, &mut out)?;
    Ok(out)
}

fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) -> Result<()> {
    if leaves.len() <= 1 {
        return Ok(());
    }
    let (l, r) = split(leaves)?;
    if m < l.len() {
        path(m, l, out)?;
        out.push(mth(r)?);
    } else {
        path(m - l.len(), r, out)?;
        out.push(mth(l)?);
    }
    Ok(())
}

/// PROOF(old_size, D[n]): proves the tree of the first `old_size` leaves is a prefix of the
/// tree of all `leaves`. Empty when `old_size` is 0 or equals the size.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>> {
    let size = leaves.len() as u64;
    if old_size > size {
        return Err(Error::OutOfRange {
            index: old_size,
            size,
        });
    }
    let mut out = Vec::new();
    if old_size > 0 && old_size < size {
        subproof(to_usize(old_size)?, leaves, true, &mut out)?;
    }
    Ok(out)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool, out: &mut Vec<Hash>) -> Result<()> {
    if m == leaves.len() {
        if !whole {
            out.push(mth(leaves)?);
        }
        return Ok(());
    }
    let (l, r) = split(leaves)?;
    if m <= l.len() {
        subproof(m, l, whole, out)?;
        out.push(mth(r)?);
    } else {
        subproof(m - l.len(), r, false, out)?;
        out.push(mth(l)?);
    }
    Ok(())
}

/// RFC 9162 section 2.1.3.2: checks that `leaf` (a leaf hash) is at `index` in the tree of
/// `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    if index >= size {
        return Err(Error::BadProof("leaf index is not below the tree size"));
    }
    let mut fnode = index;
    let mut snode = size - 1;
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(Error::BadProof("inclusion proof is too long"));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(Error::BadProof("inclusion proof is too short"));
    }
    if &r != root {
        return Err(Error::BadProof("inclusion proof leads to a different root"));
    }
    Ok(())
}

/// RFC 9162 section 2.1.4.2: checks that the tree of `size1` leaves with root `root1` is a
/// prefix of the tree of `size2` leaves with root `root2`.
///
/// Edge cases (outside the RFC's 0 < size1 < size2): size1 == size2 needs an empty proof and
/// equal roots; size1 == 0 needs an empty proof and `root1` to be the empty root.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<()> {
    if size1 > size2 {
        return Err(Error::BadProof("old tree is larger than the new tree"));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(Error::BadProof("proof between equal sizes must be empty"));
        }
        if root1 != root2 {
            return Err(Error::BadProof("equal sizes with different roots"));
        }
        return Ok(());
    }
    if size1 == 0 {
        if !proof.is_empty() {
            return Err(Error::BadProof("proof from the empty tree must be empty"));
        }
        if root1 != &empty_root() {
            return Err(Error::BadProof("root of the empty tree is wrong"));
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(Error::BadProof("consistency proof is empty"));
    };
    // Step 2: if size1 is a power of two, the old root itself starts the path.
    let (seed, rest): (Hash, &[Hash]) = if size1.is_power_of_two() {
        (*root1, proof)
    } else {
        (*first, rest)
    };
    let mut fnode = size1 - 1;
    let mut snode = size2 - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = seed;
    let mut sr = seed;
    for c in rest {
        if snode == 0 {
            return Err(Error::BadProof("consistency proof is too long"));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(Error::BadProof("consistency proof is too short"));
    }
    if &fr != root1 {
        return Err(Error::BadProof(
            "consistency proof does not lead to the old root",
        ));
    }
    if &sr != root2 {
        return Err(Error::BadProof(
            "consistency proof does not lead to the new root",
        ));
    }
    Ok(())
}

/// Where the hashes of perfect subtrees come from: `perfect(level, index)` is MTH of the
/// 2^level leaves starting at leaf `index << level` (level 0: the leaf hash itself). Only
/// subtrees inside the tree being proved are asked for.
pub trait Subtrees {
    /// The hash of one perfect subtree.
    fn perfect(&self, level: u32, index: u64) -> Result<Hash>;
}

/// A slice of leaf hashes as a [`Subtrees`] source, hashing each subtree it is asked for.
impl Subtrees for [Hash] {
    fn perfect(&self, level: u32, index: u64) -> Result<Hash> {
        let width = 1u64
            .checked_shl(level)
            .ok_or(Error::Internal("subtree level past 63"))?;
        let start = to_usize(index.saturating_mul(width))?;
        let end = start.saturating_add(to_usize(width)?);
        let leaves = self.get(start..end).ok_or(Error::OutOfRange {
            index: end as u64,
            size: self.len() as u64,
        })?;
        mth(leaves)
    }
}

/// MTH(D[start:start+n]) for a subtree the RFC's recursion visits: `start` is a multiple
/// of the smallest power of two that is at least `n`, so the range splits into one
/// perfect, aligned subtree per set bit of `n`, folded from the right.
fn range_hash(source: &(impl Subtrees + ?Sized), start: u64, n: u64) -> Result<Hash> {
    if n == 0 {
        return Ok(empty_root());
    }
    let mut pieces = Vec::with_capacity(n.count_ones() as usize);
    let mut at = start;
    for level in (0..64u32).rev() {
        if n & (1 << level) != 0 {
            pieces.push(source.perfect(level, at >> level)?);
            at += 1 << level;
        }
    }
    let mut pieces = pieces.into_iter().rev();
    let last = pieces
        .next()
        .ok_or(Error::Internal("a non-empty range has no pieces"))?;
    Ok(pieces.fold(last, |acc, left| node_hash(&left, &acc)))
}

/// The largest power of two strictly less than `n` (n >= 2).
fn split_point_u64(n: u64) -> u64 {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH of the first `size` leaves, from stored subtrees: at most one read per set bit of
/// `size`.
pub fn root_from(source: &(impl Subtrees + ?Sized), size: u64) -> Result<Hash> {
    range_hash(source, 0, size)
}

/// PATH(index, D[size]) from stored subtrees, O(log n) reads: the audit path is the same
/// as [`inclusion_proof`]'s, hash for hash.
pub fn inclusion_proof_from(
    source: &(impl Subtrees + ?Sized),
    index: u64,
    size: u64,
) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(Error::OutOfRange { index, size });
    }
    let mut out = Vec::new();
    let (mut m, mut start, mut n) = (index, 0u64, size);
    // Walk down from the root, collecting siblings; the RFC lists them leaf first.
    while n > 1 {
        let k = split_point_u64(n);
        if m < k {
            out.push(range_hash(source, start + k, n - k)?);
            n = k;
        } else {
            out.push(range_hash(source, start, k)?);
            m -= k;
            start += k;
            n -= k;
        }
    }
    out.reverse();
    Ok(out)
}

/// PROOF(old_size, D[size]) from stored subtrees, O(log n) reads; the same hashes as
/// [`consistency_proof`].
pub fn consistency_proof_from(
    source: &(impl Subtrees + ?Sized),
    old_size: u64,
    size: u64,
) -> Result<Vec<Hash>> {
    if old_size > size {
        return Err(Error::OutOfRange {
            index: old_size,
            size,
        });
    }
    let mut out = Vec::new();
    if old_size == 0 || old_size == size {
        return Ok(out);
    }
    let (mut m, mut start, mut n, mut whole) = (old_size, 0u64, size, true);
    loop {
        if m == n {
            if !whole {
                out.push(range_hash(source, start, n)?);
            }
            break;
        }
        let k = split_point_u64(n);
        if m <= k {
            out.push(range_hash(source, start + k, n - k)?);
            n = k;
        } else {
            out.push(range_hash(source, start, k)?);
            m -= k;
            start += k;
            n -= k;
            whole = false;
        }
    }
    out.reverse();
    Ok(out)
}

/// An inclusion proof with its coordinates, for evidence bundles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The leaf's index.
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The audit path, leaf to root.
    pub path: Vec<Hash>,
}

/// At most this many hashes in a proof: a tree of 2^64 leaves has depth 64.
const MAX_PROOF_LEN: usize = 64;

impl InclusionProof {
    /// Checks the proof for `leaf` against `root`.
    pub fn verify(&self, leaf: &Hash, root: &Hash) -> Result<()> {
        verify_inclusion(self.index, self.size, leaf, &self.path, root)
    }

    /// Wire form: `index u64 || size u64 || u32 count || count * 32 bytes`.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        w.u64(self.index);
        w.u64(self.size);
        w.len(self.path.len())?;
        for h in &self.path {
            w.fixed(h);
        }
        Ok(w.into_bytes())
    }

    /// Parses the wire form; short input, trailing bytes and over-long paths are rejected.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "inclusion proof");
        let index = r.u64()?;
        let size = r.u64()?;
        let n = r.len()?;
        if n > MAX_PROOF_LEN {
            return Err(r.malformed(format!("{n} hashes, at most {MAX_PROOF_LEN}")));
        }
        let mut path = Vec::with_capacity(n);
        for _ in 0..n {
            path.push(r.array::<32>()?);
        }
        r.finish()?;
        Ok(Self { index, size, path })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::MalformedKind;

    fn hx(s: &str) -> Hash {
        let v: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    }

    fn hv(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Test vectors of RFC 6962 as published in transparency-dev/merkle
    // (testonly/constants.go and proof/verify_test.go).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    const LEAF_HASHES: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ];

    /// (leaf index, tree size, path)
    fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (0, 1, vec![]),
            (
                0,
                8,
                vec![
                    hx("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    hx("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    hx("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                5,
                8,
                vec![
                    hx("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                    hx("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    hx("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                3,
                vec![hx(
                    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                )],
            ),
            (
                1,
                5,
                vec![
                    hx("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                    hx("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    hx("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
        ]
    }

    /// (size1, size2, proof)
    fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    hx("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    hx("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    hx("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    hx("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    hx("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    hx("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                5,
                vec![
                    hx("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    hx("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
            (
                6,
                7,
                vec![
                    hx("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    hx("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                    hx("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
        ]
    }

    fn vector_leaves() -> Vec<Hash> {
        LEAVES.iter().map(|l| leaf_hash(&hv(l))).collect()
    }

    fn synthetic_leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn leaf_hashes_and_roots_match_rfc6962_vectors() {
        let leaves = vector_leaves();
        for (got, want) in leaves.iter().zip(LEAF_HASHES) {
            assert_eq!(*got, hx(want));
        }
        assert_eq!(empty_root(), hx(ROOTS[0]));
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(root(&leaves[..n]), hx(want), "root of {n} leaves");
        }
    }

    #[test]
    fn inclusion_proofs_match_vectors_and_verify() {
        let leaves = vector_leaves();
        for (index, size, want) in inclusion_vectors() {
            let tree = &leaves[..size as usize];
            assert_eq!(inclusion_proof(tree, index).unwrap(), want);
            let root = hx(ROOTS[size as usize]);
            verify_inclusion(index, size, &leaves[index as usize], &want, &root).unwrap();
        }
    }

    #[test]
    fn consistency_proofs_match_vectors_and_verify() {
        let leaves = vector_leaves();
        for (size1, size2, want) in consistency_vectors() {
            assert_eq!(
                consistency_proof(&leaves[..size2 as usize], size1).unwrap(),
                want
            );
            let (r1, r2) = (hx(ROOTS[size1 as usize]), hx(ROOTS[size2 as usize]));
            verify_consistency(size1, size2, &want, &r1, &r2).unwrap();
        }
    }

    /// The recursive generators (RFC 9162 2.1.3.1, 2.1.4.1) and the bit-walking verifiers
    /// (2.1.3.2, 2.1.4.2) are independent algorithms: they must agree for every shape.
    #[test]
    fn generated_proofs_verify_for_all_small_trees() {
        let all = synthetic_leaves(70);
        for n in 1..=all.len() {
            let tree = &all[..n];
            let r = root(tree);
            for i in 0..n {
                let p = inclusion_proof(tree, i as u64).unwrap();
                verify_inclusion(i as u64, n as u64, &tree[i], &p, &r).unwrap();
            }
            for m in 0..=n {
                let p = consistency_proof(tree, m as u64).unwrap();
                verify_consistency(m as u64, n as u64, &p, &root(&tree[..m]), &r).unwrap();
            }
        }
    }

    /// The stored-subtree algorithms give the RFC's proofs, hash for hash, for every shape;
    /// a counting source shows they read O(log n) hashes.
    #[test]
    fn proofs_from_subtrees_match_the_recursive_definition() {
        use std::cell::Cell;
        struct Counting<'a>(&'a [Hash], Cell<u64>);
        impl Subtrees for Counting<'_> {
            fn perfect(&self, level: u32, index: u64) -> Result<Hash> {
                self.1.set(self.1.get() + 1);
                self.0.perfect(level, index)
            }
        }
        let all = synthetic_leaves(130);
        for n in 1..=all.len() {
            let tree = &all[..n];
            let src = Counting(tree, Cell::new(0));
            let bound = 2 * (64 - (n as u64).leading_zeros() as u64) + 2;
            assert_eq!(root_from(&src, n as u64).unwrap(), mth(tree).unwrap());
            for i in 0..n as u64 {
                src.1.set(0);
                let p = inclusion_proof_from(&src, i, n as u64).unwrap();
                assert!(src.1.get() <= bound, "{} reads for n = {n}", src.1.get());
                assert_eq!(p, inclusion_proof(tree, i).unwrap(), "n = {n}, i = {i}");
            }
            for m in 0..=n as u64 {
                src.1.set(0);
                let p = consistency_proof_from(&src, m, n as u64).unwrap();
                assert!(
                    src.1.get() <= 2 * bound,
                    "{} reads for n = {n}",
                    src.1.get()
                );
                assert_eq!(p, consistency_proof(tree, m).unwrap(), "n = {n}, m = {m}");
            }
            assert_eq!(
                Frontier::from_subtrees(tree, n as u64).unwrap().root(),
                root(tree)
            );
        }
        // Every node a frontier reports is the subtree it names.
        let mut f = Frontier::new();
        let mut reported = 0;
        for leaf in &all {
            f.push_with(*leaf, |level, index, hash| {
                assert_eq!(*hash, all[..].perfect(level, index).unwrap());
                reported += 1;
            });
        }
        assert_eq!(
            reported,
            all.len() - 1 - (all.len().count_ones() as usize - 1)
        );
    }

    #[test]
    fn streaming_root_matches_recursive_definition() {
        let all = synthetic_leaves(300);
        for n in 0..=all.len() {
            assert_eq!(root(&all[..n]), mth(&all[..n]).unwrap(), "n = {n}");
        }
    }

    fn some_hash() -> Hash {
        hx("abacaba000000000000000000000000000000000000000000060061e00123456")
    }

    #[test]
    fn tampered_inclusion_proofs_fail() {
        let leaves = vector_leaves();
        for (index, size, proof) in inclusion_vectors().into_iter().skip(1) {
            let root = hx(ROOTS[size as usize]);
            let leaf = leaves[index as usize];
            let bad = |i: u64, s: u64, l: &Hash, p: &[Hash], r: &Hash| {
                assert!(
                    matches!(verify_inclusion(i, s, l, p, r), Err(Error::BadProof(_))),
                    "accepted index {i} size {s}"
                );
            };
            bad(index.wrapping_sub(1), size, &leaf, &proof, &root);
            bad(index + 1, size, &leaf, &proof, &root);
            bad(index ^ 2, size, &leaf, &proof, &root);
            bad(index, size * 2, &leaf, &proof, &root);
            bad(index, size / 2, &leaf, &proof, &root);
            bad(index, size, &some_hash(), &proof, &root);
            bad(index, size, &leaf, &proof, &empty_root());
            bad(index, size, &leaf, &proof, &some_hash());
            let mut longer = proof.clone();
            longer.push(root);
            bad(index, size, &leaf, &longer, &root);
            let mut prefixed = vec![root];
            prefixed.extend_from_slice(&proof);
            bad(index, size, &leaf, &prefixed, &root);
            bad(index, size, &leaf, &proof[..proof.len() - 1], &root);
            for i in 0..proof.len() {
                let mut flipped = proof.clone();
                flipped[i][0] ^= 8;
                bad(index, size, &leaf, &flipped, &root);
            }
        }
    }

    #[test]
    fn tampered_consistency_proofs_fail() {
        for (size1, size2, proof) in consistency_vectors().into_iter().skip(1) {
            let r1 = hx(ROOTS[size1 as usize]);
            let r2 = hx(ROOTS[size2 as usize]);
            let bad = |s1: u64, s2: u64, p: &[Hash], a: &Hash, b: &Hash| {
                assert!(
                    matches!(verify_consistency(s1, s2, p, a, b), Err(Error::BadProof(_))),
                    "accepted {s1} -> {s2}"
                );
            };
            bad(size1 - 1, size2, &proof, &r1, &r2);
            bad(size1 + 1, size2, &proof, &r1, &r2);
            bad(size1 ^ 2, size2, &proof, &r1, &r2);
            bad(size1, size2 * 2, &proof, &r1, &r2);
            bad(size1, size2 / 2, &proof, &r1, &r2);
            bad(size1, size2, &proof, &some_hash(), &r2);
            bad(size1, size2, &proof, &r1, &some_hash());
            bad(size1, size2, &proof, &r2, &r1);
            bad(size1, size2, &[], &r1, &r2);
            for extra in [r1, r2] {
                let mut longer = proof.clone();
                longer.push(extra);
                bad(size1, size2, &longer, &r1, &r2);
                let mut prefixed = vec![extra];
                prefixed.extend_from_slice(&proof);
                bad(size1, size2, &prefixed, &r1, &r2);
            }
            bad(size1, size2, &proof[..proof.len() - 1], &r1, &r2);
            for i in 0..proof.len() {
                let mut flipped = proof.clone();
                flipped[i][0] ^= 16;
                bad(size1, size2, &flipped, &r1, &r2);
            }
        }
    }

    #[test]
    fn consistency_edge_cases() {
        let e = empty_root();
        let x = some_hash();
        verify_consistency(0, 0, &[], &e, &e).unwrap();
        verify_consistency(0, 5, &[], &e, &x).unwrap();
        verify_consistency(3, 3, &[], &x, &x).unwrap();
        assert!(verify_consistency(0, 5, &[], &x, &x).is_err());
        assert!(verify_consistency(0, 5, &[e], &e, &x).is_err());
        assert!(verify_consistency(3, 3, &[], &x, &e).is_err());
        assert!(verify_consistency(3, 3, &[x], &x, &x).is_err());
        assert!(verify_consistency(2, 1, &[], &x, &x).is_err());
        assert!(verify_inclusion(0, 0, &x, &[], &e).is_err());
        assert!(verify_inclusion(1, 1, &x, &[], &x).is_err());
        verify_inclusion(0, 1, &x, &[], &x).unwrap();
    }

    #[test]
    fn out_of_range_requests_are_caller_faults() {
        let leaves = synthetic_leaves(3);
        assert!(matches!(
            inclusion_proof(&leaves, 3).unwrap_err(),
            Error::OutOfRange { index: 3, size: 3 }
        ));
        assert!(matches!(
            consistency_proof(&leaves, 4).unwrap_err(),
            Error::OutOfRange { index: 4, size: 3 }
        ));
    }

    #[test]
    fn inclusion_proof_wire_form_round_trips_and_rejects_junk() {
        let leaves = synthetic_leaves(11);
        let p = InclusionProof {
            index: 6,
            size: 11,
            path: inclusion_proof(&leaves, 6).unwrap(),
        };
        let bytes = p.to_bytes().unwrap();
        let back = InclusionProof::from_bytes(&bytes).unwrap();
        assert_eq!(back, p);
        back.verify(&leaves[6], &root(&leaves)).unwrap();

        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            InclusionProof::from_bytes(&long).unwrap_err(),
            Error::Malformed {
                kind: MalformedKind::Trailing { extra: 1 },
                ..
            }
        ));
        assert!(matches!(
            InclusionProof::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err(),
            Error::Malformed {
                kind: MalformedKind::Short { .. },
                ..
            }
        ));
        let mut huge = bytes[..16].to_vec();
        huge.extend_from_slice(&65u32.to_be_bytes());
        assert!(matches!(
            InclusionProof::from_bytes(&huge).unwrap_err(),
            Error::Malformed {
                kind: MalformedKind::Invalid(_),
                ..
            }
        ));
    }
}
