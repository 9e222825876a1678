//! Comparing two query results: the seed rule and the official test-suite `result_eq`.
use super::exec::Rows;
use super::value::Value;
use std::collections::{HashMap, HashSet};

type Row = Vec<Value>;

/// Seed rule: same column count and the same multiset of rows (row order never matters, column
/// order always does). Two empty results are equal whatever their column counts: the seed compares
/// the two lists of rows, and empty lists carry no columns.
pub fn seed_eq(gold: &Rows, pred: &Rows) -> bool {
    if gold.rows.is_empty() && pred.rows.is_empty() {
        return true;
    }
    gold.columns == pred.columns && multiset_eq(&gold.rows, &pred.rows)
}

/// The official `result_eq(result1 = gold, result2 = pred, order_matters)`.
pub fn official_eq(gold: &[Row], pred: &[Row], order_matters: bool) -> bool {
    if gold.is_empty() && pred.is_empty() {
        return true; // whatever the column counts
    }
    if gold.len() != pred.len() {
        return false;
    }
    let ncols = gold[0].len();
    if pred[0].len() != ncols {
        return false;
    }
    if !quick_check(gold, pred, order_matters) {
        return false;
    }
    // Search the column permutations of pred; perm[i] is the pred column matched to gold column i.
    let candidates: Vec<Vec<usize>> = (0..ncols).map(|i| (0..ncols).filter(|&j| same_column(gold, i, pred, j)).collect()).collect();
    let mut perm = Vec::with_capacity(ncols);
    let mut used = vec![false; ncols];
    search(&candidates, &mut perm, &mut used, &mut |perm| {
        let permuted: Vec<Row> = pred.iter().map(|r| perm.iter().map(|&j| r[j].clone()).collect()).collect();
        if order_matters {
            gold == permuted.as_slice()
        } else {
            multiset_eq(gold, &permuted)
        }
    })
}

/// The official `quick_rej`: sort each row's values by Python's `str(v) + str(type(v))`, then compare
/// the rows in order (ORDER BY gold) or as sets. Kept exactly, quirk included: a row mixing int and
/// float can sort differently on the two sides though equal, because `str(1)` is "1" and `str(1.0)`
/// is "1.0" (gold `(1, 1.5)` sorts to `(1.5, 1)`, pred `(1.0, 1.5)` stays `(1.0, 1.5)`: "not equal").
fn quick_check(gold: &[Row], pred: &[Row], order_matters: bool) -> bool {
    let unorder = |rows: &[Row]| -> Vec<Row> {
        rows.iter()
            .map(|r| {
                let mut keyed: Vec<(String, &Value)> = r.iter().map(|v| (v.python_sort_key(), v)).collect();
                keyed.sort_by(|a, b| a.0.cmp(&b.0)); // stable, like Python's sorted
                keyed.into_iter().map(|(_, v)| v.clone()).collect()
            })
            .collect()
    };
    let (g, p) = (unorder(gold), unorder(pred));
    if order_matters {
        g == p
    } else {
        g.iter().collect::<HashSet<_>>() == p.iter().collect::<HashSet<_>>()
    }
}

/// A pred column can stand for a gold column only if it holds the same multiset of values; this
/// prunes the permutation search without changing its outcome (the official script prunes with a
/// random sample of rows instead, which is weaker but also never drops a matching permutation).
fn same_column(gold: &[Row], i: usize, pred: &[Row], j: usize) -> bool {
    counts(gold.iter().map(|r| &r[i])) == counts(pred.iter().map(|r| &r[j]))
}

fn counts<'a, T: Eq + std::hash::Hash + 'a>(items: impl Iterator<Item = &'a T>) -> HashMap<&'a T, usize> {
    let mut m = HashMap::new();
    for it in items {
        *m.entry(it).or_insert(0) += 1;
    }
    m
}

/// Bag equality: duplicates count.
pub fn multiset_eq(a: &[Row], b: &[Row]) -> bool {
    a.len() == b.len() && counts(a.iter()) == counts(b.iter())
}

/// Depth-first search over injective assignments; stops at the first `accept`ed permutation.
fn search(cands: &[Vec<usize>], perm: &mut Vec<usize>, used: &mut [bool], accept: &mut dyn FnMut(&[usize]) -> bool) -> bool {
    let i = perm.len();
    if i == cands.len() {
        return accept(perm);
    }
    for &j in &cands[i] {
        if used[j] {
            continue;
        }
        used[j] = true;
        perm.push(j);
        let found = search(cands, perm, used, accept);
        perm.pop();
        used[j] = false;
        if found {
            return true;
        }
    }
    false
}
