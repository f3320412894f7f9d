//! The CART builder: exact best splits over presorted, per-node partitioned
//! feature values, dense or sparse.
//!
//! Both layouts keep, for the samples of the node being split, every
//! feature's values already in ascending order, so a split search is one
//! linear scan per feature and no node ever sorts. After a split, each
//! feature's slice is stably partitioned into the left and right children,
//! which keeps both halves sorted.
//!
//! - Dense: one segment of `slots` entries per feature; a node is the same
//!   `[start, end)` range of every segment.
//! - Sparse: only non-zero values are stored, as one array sorted by
//!   (feature, value, slot); a node owns a contiguous range of it (only the
//!   features that have a non-zero in the node appear) and zeros are one
//!   implicit block between the negative and the positive values.
//!
//! A *slot* is one training sample: a row of the input, or one draw of a
//! row in a bootstrap sample (a row drawn twice fills two slots, which is
//! what weighting it by 2 would do).

use super::{Criterion, Node, Tree};

/// Hyperparameters as the builder needs them, already validated.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub criterion: Criterion,
    /// `usize::MAX` = unlimited.
    pub max_depth: usize,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    /// Features that vary in a node to evaluate per split (≤ features).
    pub max_features: usize,
}

/// SplitMix64: small, seedable, identical on every platform and release,
/// so model bytes never depend on a random-number crate's version.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (Lemire's multiply-shift; the bias is < 2^-32
    /// for any bound we use).
    pub fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// Fisher-Yates shuffle of the first `k` positions only: `v[..k]` is a
    /// uniform random `k`-subset in random order.
    pub fn partial_shuffle<T>(&mut self, v: &mut [T], k: usize) {
        for i in 0..k.min(v.len()) {
            let j = i + self.below(v.len() - i);
            v.swap(i, j);
        }
    }
}

/// One dense value of one slot; the class travels with it so the scan never
/// leaves the segment.
#[derive(Debug, Clone, Copy)]
pub(super) struct DenseEntry {
    pub value: f64,
    pub slot: u32,
    pub class: u32,
}

/// One non-zero value of one slot.
#[derive(Debug, Clone, Copy)]
pub(super) struct SparseEntry {
    pub value: f32,
    pub feature: u32,
    pub slot: u32,
}

/// The best split found so far in a node.
#[derive(Debug, Clone, Copy)]
struct Best {
    score: f64,
    feature: u32,
    threshold: f64,
    n_left: usize,
}

/// The node being split: slot range (dense: in every feature segment;
/// sparse: in `samples`) and, for sparse data, its entry range.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    entries_start: usize,
    entries_end: usize,
}

/// Threshold between two consecutive distinct values `a < b`, as sklearn
/// picks it: the midpoint, or `a` when the midpoint rounds up to `b`.
#[inline]
fn midpoint(a: f64, b: f64) -> f64 {
    let t = a / 2.0 + b / 2.0;
    if t == b || t.is_infinite() { a } else { t }
}

/// Running class counts of the left side of a candidate split, and the
/// criterion's proxy score (larger is better) of the split.
///
/// Counts are whole numbers held in f64, so the Gini sums of squares are
/// exact and the dense and sparse scans (which add samples in a different
/// grouping) score every candidate identically.
struct Scan<'a> {
    criterion: Criterion,
    /// Class counts of the node.
    node: &'a [f64],
    n: usize,
    left: &'a mut [f64],
    n_left: usize,
    /// Gini: Σ left², Σ right².
    sq_left: f64,
    sq_right: f64,
    /// `x ln x` for every whole count up to the number of slots.
    xlogx: &'a [f64],
}

impl<'a> Scan<'a> {
    fn new(
        criterion: Criterion,
        node: &'a [f64],
        n: usize,
        left: &'a mut [f64],
        sq_node: f64,
        xlogx: &'a [f64],
    ) -> Scan<'a> {
        left.fill(0.0);
        Scan {
            criterion,
            node,
            n,
            left,
            n_left: 0,
            sq_left: 0.0,
            sq_right: sq_node,
            xlogx,
        }
    }

    #[inline(always)]
    fn push(&mut self, class: usize) {
        let l = self.left[class];
        let r = self.node[class] - l;
        self.sq_left += 2.0 * l + 1.0;
        self.sq_right -= 2.0 * r - 1.0;
        self.left[class] = l + 1.0;
        self.n_left += 1;
    }

    /// Moves a block of samples (the implicit zeros) to the left.
    fn push_block(&mut self, counts: &[f64], n: usize) {
        for (c, &z) in counts.iter().enumerate() {
            let l = self.left[c];
            let r = self.node[c] - l;
            self.sq_left += (l + z) * (l + z) - l * l;
            self.sq_right += (r - z) * (r - z) - r * r;
            self.left[c] = l + z;
        }
        self.n_left += n;
    }

    #[inline(always)]
    fn score(&self) -> f64 {
        let n_left = self.n_left as f64;
        let n_right = (self.n - self.n_left) as f64;
        match self.criterion {
            // n·Gini = n - Σc²/n per side: maximise Σc²/n summed over sides
            Criterion::Gini => self.sq_left / n_left + self.sq_right / n_right,
            // n·H = n ln n - Σ c ln c per side: maximise the negated sum
            Criterion::Entropy => {
                let mut s = -self.xlogx[self.n_left] - self.xlogx[self.n - self.n_left];
                for (c, &l) in self.left.iter().enumerate() {
                    s += self.xlogx[l as usize] + self.xlogx[(self.node[c] - l) as usize];
                }
                s
            }
        }
    }
}

/// Keeps `candidate` if it beats `best`; ties go to the lower feature (and,
/// within a feature, to the first threshold), so the result does not depend
/// on the order features are visited in.
#[inline]
fn offer(best: &mut Option<Best>, best_left: &mut [f64], candidate: Best, left: &[f64]) {
    let better = match best {
        None => true,
        Some(b) => {
            candidate.score > b.score
                || (candidate.score == b.score && candidate.feature < b.feature)
        }
    };
    if better {
        *best = Some(candidate);
        best_left.copy_from_slice(left);
    }
}

/// The layout-specific half of the builder.
trait Splitter {
    /// The best split of `span` over up to `limits.max_features` varying
    /// features; fills `best_left` with the left child's class counts.
    fn find(
        &mut self,
        span: Span,
        ctx: &mut Ctx,
        node: &[f64],
        best_left: &mut [f64],
    ) -> Option<Best>;
    /// Partitions the node's slots (and entries) by `best`; returns the
    /// left and right spans.
    fn partition(&mut self, span: Span, best: &Best) -> (Span, Span);
}

/// What every split search shares.
struct Ctx {
    limits: Limits,
    classes: usize,
    rng: Rng,
    xlogx: Vec<f64>,
    left: Vec<f64>,
    scratch_counts: Vec<f64>,
}

/// Dense presorted layout.
pub(super) struct DenseSplitter {
    features: usize,
    slots: usize,
    /// `features` segments of `slots` entries, each sorted by value within
    /// every node range.
    entries: Vec<DenseEntry>,
    is_left: Vec<bool>,
    scratch: Vec<DenseEntry>,
    order: Vec<u32>,
}

impl DenseSplitter {
    /// `entries` holds `features` segments of `slots` entries, each sorted
    /// by value.
    pub fn new(features: usize, slots: usize, entries: Vec<DenseEntry>) -> DenseSplitter {
        debug_assert_eq!(entries.len(), features * slots);
        DenseSplitter {
            features,
            slots,
            entries,
            is_left: vec![false; slots],
            scratch: Vec::with_capacity(slots),
            order: (0..features as u32).collect(),
        }
    }
}

impl Splitter for DenseSplitter {
    fn find(
        &mut self,
        span: Span,
        ctx: &mut Ctx,
        node: &[f64],
        best_left: &mut [f64],
    ) -> Option<Best> {
        let m = span.end - span.start;
        let msl = ctx.limits.min_samples_leaf;
        let sq_node: f64 = node.iter().map(|c| c * c).sum();
        let all = ctx.limits.max_features >= self.features;
        if !all {
            // a fresh random order; the first `max_features` varying ones count
            self.order.sort_unstable();
            ctx.rng.partial_shuffle(&mut self.order, self.features);
        }
        let mut best: Option<Best> = None;
        let mut varying = 0;
        for &f in &self.order {
            if varying >= ctx.limits.max_features && best.is_some() {
                break;
            }
            let base = f as usize * self.slots;
            let seg = &self.entries[base + span.start..base + span.end];
            if seg[m - 1].value <= seg[0].value {
                continue; // constant in this node
            }
            varying += 1;
            let mut scan = Scan::new(
                ctx.limits.criterion,
                node,
                m,
                &mut ctx.left,
                sq_node,
                &ctx.xlogx,
            );
            let mut local: Option<Best> = None;
            // a split after position i puts i + 1 samples left
            for i in 0..m - msl {
                scan.push(seg[i].class as usize);
                let (a, b) = (seg[i].value, seg[i + 1].value);
                if b > a && i + 1 >= msl {
                    let score = scan.score();
                    if local.is_none_or(|l| score > l.score) {
                        local = Some(Best {
                            score,
                            feature: f,
                            threshold: midpoint(a, b),
                            n_left: i + 1,
                        });
                        ctx.scratch_counts.copy_from_slice(scan.left);
                    }
                }
            }
            if let Some(local) = local {
                offer(&mut best, best_left, local, &ctx.scratch_counts);
            }
        }
        best
    }

    fn partition(&mut self, span: Span, best: &Best) -> (Span, Span) {
        let (start, end) = (span.start, span.end);
        let mid = start + best.n_left;
        let bf = best.feature as usize;
        let base = bf * self.slots;
        for e in &self.entries[base + start..base + mid] {
            self.is_left[e.slot as usize] = true;
        }
        for e in &self.entries[base + mid..base + end] {
            self.is_left[e.slot as usize] = false;
        }
        let m = end - start;
        self.scratch.resize(
            m,
            DenseEntry {
                value: 0.0,
                slot: 0,
                class: 0,
            },
        );
        for f in 0..self.features {
            if f == bf {
                continue; // already split at `mid`
            }
            let base = f * self.slots;
            let seg = &mut self.entries[base + start..base + end];
            // branch-free stable partition: lefts in place, rights aside
            let (mut w, mut r) = (0, 0);
            for i in 0..m {
                let e = seg[i];
                let left = self.is_left[e.slot as usize] as usize;
                seg[w] = e;
                self.scratch[r] = e;
                w += left;
                r += 1 - left;
            }
            debug_assert_eq!(w, best.n_left);
            seg[w..].copy_from_slice(&self.scratch[..r]);
        }
        (
            Span {
                start,
                end: mid,
                ..span
            },
            Span {
                start: mid,
                end,
                ..span
            },
        )
    }
}

/// Sparse layout: non-zeros only.
pub(super) struct SparseSplitter {
    /// Class of each slot.
    classes: Vec<u32>,
    /// Slots, grouped by node.
    samples: Vec<u32>,
    /// Non-zeros sorted by (feature, value, slot) within every node range.
    entries: Vec<SparseEntry>,
    is_left: Vec<bool>,
    scratch_samples: Vec<u32>,
    scratch_entries: Vec<SparseEntry>,
    /// (feature, entries start, entries end) of the node's features.
    runs: Vec<(u32, usize, usize)>,
    zero_counts: Vec<f64>,
}

impl SparseSplitter {
    /// `entries` sorted by (feature, value, slot); slot `s` has class
    /// `classes[s]`.
    pub fn new(classes: Vec<u32>, entries: Vec<SparseEntry>) -> SparseSplitter {
        let slots = classes.len();
        SparseSplitter {
            samples: (0..slots as u32).collect(),
            is_left: vec![false; slots],
            classes,
            entries,
            scratch_samples: Vec::new(),
            scratch_entries: Vec::new(),
            runs: Vec::new(),
            zero_counts: Vec::new(),
        }
    }

    fn entries_len(&self) -> usize {
        self.entries.len()
    }

    /// Scans one feature: negatives, the implicit zeros, positives.
    #[allow(clippy::too_many_arguments)]
    fn scan_feature(
        &mut self,
        f: u32,
        lo: usize,
        hi: usize,
        m: usize,
        ctx: &mut Ctx,
        node: &[f64],
        sq_node: f64,
    ) -> Option<Best> {
        let run = &self.entries[lo..hi];
        let nnz = run.len();
        let zeros = m - nnz;
        let msl = ctx.limits.min_samples_leaf;
        self.zero_counts.clear();
        self.zero_counts.extend_from_slice(node);
        for e in run {
            self.zero_counts[self.classes[e.slot as usize] as usize] -= 1.0;
        }
        let negatives = run.partition_point(|e| e.value < 0.0);
        // virtual sequence: run[..negatives], zero block, run[negatives..]
        let groups = nnz + usize::from(zeros > 0);
        let value = |j: usize| -> f64 {
            if zeros > 0 && j == negatives {
                0.0
            } else if zeros > 0 && j > negatives {
                f64::from(run[j - 1].value)
            } else {
                f64::from(run[j].value)
            }
        };
        let mut scan = Scan::new(
            ctx.limits.criterion,
            node,
            m,
            &mut ctx.left,
            sq_node,
            &ctx.xlogx,
        );
        let mut local: Option<Best> = None;
        for j in 0..groups - 1 {
            if zeros > 0 && j == negatives {
                scan.push_block(&self.zero_counts, zeros);
            } else {
                let e = if zeros > 0 && j > negatives {
                    run[j - 1]
                } else {
                    run[j]
                };
                scan.push(self.classes[e.slot as usize] as usize);
            }
            if m - scan.n_left < msl {
                break;
            }
            let (a, b) = (value(j), value(j + 1));
            if b > a && scan.n_left >= msl {
                let score = scan.score();
                if local.is_none_or(|l| score > l.score) {
                    local = Some(Best {
                        score,
                        feature: f,
                        threshold: midpoint(a, b),
                        n_left: scan.n_left,
                    });
                    ctx.scratch_counts.copy_from_slice(scan.left);
                }
            }
        }
        local
    }
}

impl Splitter for SparseSplitter {
    fn find(
        &mut self,
        span: Span,
        ctx: &mut Ctx,
        node: &[f64],
        best_left: &mut [f64],
    ) -> Option<Best> {
        let m = span.end - span.start;
        let sq_node: f64 = node.iter().map(|c| c * c).sum();
        self.runs.clear();
        let mut i = span.entries_start;
        while i < span.entries_end {
            let f = self.entries[i].feature;
            let mut j = i + 1;
            while j < span.entries_end && self.entries[j].feature == f {
                j += 1;
            }
            // constant only if every sample has the same non-zero value
            if j - i < m || self.entries[j - 1].value > self.entries[i].value {
                self.runs.push((f, i, j));
            }
            i = j;
        }
        // features absent from the node are constant (all zero) there
        if ctx.limits.max_features < self.runs.len() {
            let k = ctx.limits.max_features;
            ctx.rng.partial_shuffle(&mut self.runs, k);
            self.runs.truncate(k);
        }
        let mut best: Option<Best> = None;
        for r in 0..self.runs.len() {
            let (f, lo, hi) = self.runs[r];
            if let Some(local) = self.scan_feature(f, lo, hi, m, ctx, node, sq_node) {
                offer(&mut best, best_left, local, &ctx.scratch_counts);
            }
        }
        best
    }

    fn partition(&mut self, span: Span, best: &Best) -> (Span, Span) {
        let zero_left = best.threshold >= 0.0;
        for &s in &self.samples[span.start..span.end] {
            self.is_left[s as usize] = zero_left;
        }
        // the split feature's entries (one run; sorted by feature)
        let node_entries = &self.entries[span.entries_start..span.entries_end];
        let lo = node_entries.partition_point(|e| e.feature < best.feature);
        let hi = node_entries.partition_point(|e| e.feature <= best.feature);
        for e in &node_entries[lo..hi] {
            self.is_left[e.slot as usize] = f64::from(e.value) <= best.threshold;
        }
        let is_left = &self.is_left;
        let mid = stable_partition(
            &mut self.samples[span.start..span.end],
            &mut self.scratch_samples,
            |&s| is_left[s as usize],
        );
        debug_assert_eq!(mid, best.n_left);
        let entries_mid = stable_partition(
            &mut self.entries[span.entries_start..span.entries_end],
            &mut self.scratch_entries,
            |e| is_left[e.slot as usize],
        );
        (
            Span {
                start: span.start,
                end: span.start + mid,
                entries_start: span.entries_start,
                entries_end: span.entries_start + entries_mid,
            },
            Span {
                start: span.start + mid,
                end: span.end,
                entries_start: span.entries_start + entries_mid,
                entries_end: span.entries_end,
            },
        )
    }
}

/// Moves the items `left` accepts to the front, keeping both groups in
/// order; returns how many went left.
fn stable_partition<T: Copy>(
    v: &mut [T],
    scratch: &mut Vec<T>,
    left: impl Fn(&T) -> bool,
) -> usize {
    scratch.clear();
    let mut w = 0;
    for i in 0..v.len() {
        let x = v[i];
        if left(&x) {
            v[w] = x;
            w += 1;
        } else {
            scratch.push(x);
        }
    }
    v[w..].copy_from_slice(scratch);
    w
}

/// The layouts the builder accepts.
pub(super) enum Layout {
    Dense(DenseSplitter),
    Sparse(SparseSplitter),
}

/// Grows one tree over `slots` samples whose class counts are `counts`.
pub(super) fn grow(layout: Layout, counts: Vec<f64>, limits: Limits, seed: u64) -> Tree {
    let classes = counts.len();
    let slots = counts.iter().sum::<f64>() as usize;
    let mut ctx = Ctx {
        limits,
        classes,
        rng: Rng::new(seed),
        xlogx: match limits.criterion {
            Criterion::Entropy => (0..=slots)
                .map(|c| {
                    if c == 0 {
                        0.0
                    } else {
                        c as f64 * (c as f64).ln()
                    }
                })
                .collect(),
            Criterion::Gini => Vec::new(),
        },
        left: vec![0.0; classes],
        scratch_counts: vec![0.0; classes],
    };
    let span = Span {
        start: 0,
        end: slots,
        entries_start: 0,
        entries_end: match &layout {
            Layout::Dense(_) => 0,
            Layout::Sparse(s) => s.entries_len(),
        },
    };
    match layout {
        Layout::Dense(mut s) => build(&mut s, &mut ctx, span, counts),
        Layout::Sparse(mut s) => build(&mut s, &mut ctx, span, counts),
    }
}

/// A node waiting to be grown: where its samples are, its depth, and the
/// split node (and side) that points to it.
struct Pending {
    span: Span,
    depth: usize,
    parent: Option<(usize, bool)>,
}

/// Depth-first, left child first (node ids in preorder, as sklearn), with
/// an explicit stack: unlimited-depth trees on sorted data can be deep.
fn build<S: Splitter>(splitter: &mut S, ctx: &mut Ctx, root: Span, counts: Vec<f64>) -> Tree {
    let k = ctx.classes;
    let mut tree = Tree {
        nodes: Vec::new(),
        leaf_proba: Vec::new(),
        leaf_samples: Vec::new(),
        depth: 0,
    };
    // class counts of the pending nodes live on a parallel stack
    let mut stack = vec![Pending {
        span: root,
        depth: 0,
        parent: None,
    }];
    let mut count_stack: Vec<f64> = counts;
    let mut node = vec![0.0; k];
    let mut best_left = vec![0.0; k];
    while let Some(Pending {
        span,
        depth,
        parent,
    }) = stack.pop()
    {
        let at = count_stack.len() - k;
        node.copy_from_slice(&count_stack[at..]);
        count_stack.truncate(at);
        let id = tree.nodes.len();
        if let Some((p, is_left)) = parent
            && let Node::Split { left, right, .. } = &mut tree.nodes[p]
        {
            *(if is_left { left } else { right }) = id as u32;
        }
        tree.depth = tree.depth.max(depth);
        let m = span.end - span.start;
        let pure = node.iter().filter(|&&c| c > 0.0).count() <= 1;
        let lim = ctx.limits;
        let split = if pure
            || depth >= lim.max_depth
            || m < lim.min_samples_split
            || m < 2 * lim.min_samples_leaf
        {
            None
        } else {
            splitter.find(span, ctx, &node, &mut best_left)
        };
        match split {
            None => {
                let leaf = tree.leaf_samples.len() as u32;
                tree.leaf_samples.push(m as u32);
                tree.leaf_proba.extend(node.iter().map(|c| c / m as f64));
                tree.nodes.push(Node::Leaf { leaf });
            }
            Some(best) => {
                tree.nodes.push(Node::Split {
                    feature: best.feature,
                    threshold: best.threshold,
                    left: 0,
                    right: 0,
                });
                let (l, r) = splitter.partition(span, &best);
                // right pushed first so the left subtree is built first
                stack.push(Pending {
                    span: r,
                    depth: depth + 1,
                    parent: Some((id, false)),
                });
                count_stack.extend(node.iter().zip(&best_left).map(|(n, l)| n - l));
                stack.push(Pending {
                    span: l,
                    depth: depth + 1,
                    parent: Some((id, true)),
                });
                count_stack.extend_from_slice(&best_left);
            }
        }
    }
    tree
}
