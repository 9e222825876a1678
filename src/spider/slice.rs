//! A fixed stratified slice of a split: `n` questions whose hardness mix is the split's (largest
//! remainder over easy / medium / hard / extra) and which, within each hardness, take one question
//! from each database in turn, the turn carried across levels — so a small slice spreads over databases instead of taking the first
//! few (dev is ordered by database). Deterministic: no seed, the same slice every time, in the
//! split's order.
use super::dataset::Example;
use super::hardness::Hardness;
use std::collections::{BTreeMap, VecDeque};

/// The slice of `examples` of `n` questions (all of them when `n` is at least their number).
pub fn stratified(examples: &[Example], n: usize) -> Vec<Example> {
    if n >= examples.len() {
        return examples.to_vec();
    }
    let total = examples.len();
    let groups: Vec<Vec<&Example>> = Hardness::ALL.iter().map(|h| examples.iter().filter(|e| e.hardness == *h).collect()).collect();
    // Largest remainder: floor of each group's share, then one more to the largest remainders.
    let exact: Vec<f64> = groups.iter().map(|g| n as f64 * g.len() as f64 / total as f64).collect();
    let mut take: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    for &g in order.iter().cycle().take(n - take.iter().sum::<usize>()) {
        take[g] += 1;
    }
    // One question per database in turn (databases by name, questions in split order), the turn
    // carried from one hardness level to the next so that a small slice still spreads.
    let mut dbs: Vec<&str> = examples.iter().map(|e| e.db_id.as_str()).collect();
    dbs.sort_unstable();
    dbs.dedup();
    let mut turn = 0;
    let mut picked: Vec<&Example> = Vec::with_capacity(n);
    for (group, k) in groups.iter().zip(take) {
        let mut by_db: BTreeMap<&str, VecDeque<&Example>> = BTreeMap::new();
        for e in group {
            by_db.entry(e.db_id.as_str()).or_default().push_back(e);
        }
        let mut got = 0;
        while got < k && by_db.values().any(|q| !q.is_empty()) {
            let db = dbs[turn % dbs.len()];
            turn += 1;
            if let Some(e) = by_db.get_mut(db).and_then(VecDeque::pop_front) {
                picked.push(e);
                got += 1;
            }
        }
    }
    picked.sort_by_key(|e| e.index);
    picked.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spider::Split;

    fn ex(index: usize, db: &str, hardness: Hardness) -> Example {
        Example { split: Split::Dev, index, db_id: db.into(), question: String::new(), query: String::new(), hardness }
    }

    #[test]
    fn the_mix_of_hardness_is_kept_and_databases_take_turns() {
        // 10 easy on db a, 10 easy on db b, 20 medium on a, 0 hard, 0 extra: 40 questions.
        let mut all = Vec::new();
        for i in 0..10 {
            all.push(ex(i, "a", Hardness::Easy));
        }
        for i in 10..20 {
            all.push(ex(i, "b", Hardness::Easy));
        }
        for i in 20..40 {
            all.push(ex(i, "a", Hardness::Medium));
        }
        let s = stratified(&all, 10);
        let easy: Vec<&Example> = s.iter().filter(|e| e.hardness == Hardness::Easy).collect();
        assert_eq!((easy.len(), s.len() - easy.len()), (5, 5), "half easy, half medium as in the split");
        assert_eq!(easy.iter().filter(|e| e.db_id == "b").count(), 2, "databases take turns: a, b, a, b, a");
        assert!(s.windows(2).all(|w| w[0].index < w[1].index), "in the split's order");
        let ids = |v: &[Example]| v.iter().map(|e| e.index).collect::<Vec<_>>();
        assert_eq!(ids(&stratified(&all, 10)), ids(&s), "the same slice every time");
        assert_eq!(stratified(&all, 100).len(), 40);
    }
}
