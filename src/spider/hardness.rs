//! Spider hardness (easy / medium / hard / extra), the rules of the official `evaluation.py`
//! (`Evaluator.eval_hardness`) reimplemented over a small "shape" of a query: only the counts those
//! rules look at. A shape comes from dev.json's parsed `sql` field ([`Shape::from_spider_json`]) or from
//! the query text ([`super::sqlshape::shape_of`]); train_spider.json has no parsed field.
use serde_json::Value as Json;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hardness {
    Easy,
    Medium,
    Hard,
    Extra,
}

impl Hardness {
    pub const ALL: [Hardness; 4] = [Hardness::Easy, Hardness::Medium, Hardness::Hard, Hardness::Extra];

    pub fn as_str(self) -> &'static str {
        match self {
            Hardness::Easy => "easy",
            Hardness::Medium => "medium",
            Hardness::Hard => "hard",
            Hardness::Extra => "extra",
        }
    }

    pub fn parse(s: &str) -> Option<Hardness> {
        Hardness::ALL.into_iter().find(|h| h.as_str() == s.trim().to_ascii_lowercase())
    }
}

impl fmt::Display for Hardness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One condition unit `val_unit [NOT] op val1 [AND val2]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cond {
    pub not: bool,
    pub like: bool,
    /// How many of val1/val2 are sub-queries.
    pub nested: usize,
}

/// A condition list as the official parser stores it: units interleaved with `and`/`or`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CondList {
    pub conds: Vec<Cond>,
    pub ands: usize,
    pub ors: usize,
}

/// The parts of one SELECT that the hardness rules count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// FROM items: tables and FROM sub-queries alike (`len(table_units)`).
    pub table_units: usize,
    pub from_conds: CondList,
    /// One flag per SELECT item: does it carry an aggregate?
    pub select_aggs: Vec<bool>,
    pub where_: CondList,
    /// One flag per GROUP BY column: does it carry an aggregate?
    pub group_by_aggs: Vec<bool>,
    pub having: CondList,
    pub order_by: bool,
    /// Aggregated column units in ORDER BY (each val_unit has one or two column units).
    pub order_by_aggs: usize,
    pub limit: bool,
    /// INTERSECT / UNION / EXCEPT right-hand side: counted as one nested query.
    pub set_op: bool,
}

impl Shape {
    fn cond_units(&self) -> impl Iterator<Item = &Cond> {
        self.from_conds.conds.iter().chain(&self.where_.conds).chain(&self.having.conds)
    }

    /// `count_component1`: WHERE, GROUP BY, ORDER BY, LIMIT, joins, ORs and LIKEs.
    fn component1(&self) -> usize {
        let clauses = [!self.where_.conds.is_empty(), !self.group_by_aggs.is_empty(), self.order_by, self.limit];
        let joins = self.table_units.saturating_sub(1);
        let ors = self.from_conds.ors + self.where_.ors + self.having.ors;
        let likes = self.cond_units().filter(|c| c.like).count();
        clauses.iter().filter(|&&b| b).count() + joins + ors + likes
    }

    /// `count_component2`: sub-queries in conditions plus a set operation.
    fn component2(&self) -> usize {
        self.cond_units().map(|c| c.nested).sum::<usize>() + usize::from(self.set_op)
    }

    /// `count_others`. The official `count_agg` reads `unit[0]` of each item, which for a condition
    /// unit is its NOT flag and for an `and`/`or` string its first letter (always "true"): so WHERE
    /// counts NOT conditions and HAVING counts NOT conditions plus connectors. Kept as is, on purpose.
    fn others(&self) -> usize {
        let not_conds = |l: &CondList| l.conds.iter().filter(|c| c.not).count();
        let agg = self.select_aggs.iter().filter(|&&a| a).count()
            + not_conds(&self.where_)
            + self.group_by_aggs.iter().filter(|&&a| a).count()
            + self.order_by_aggs
            + not_conds(&self.having)
            + self.having.ands
            + self.having.ors;
        [agg > 1, self.select_aggs.len() > 1, self.where_.conds.len() > 1, self.group_by_aggs.len() > 1].iter().filter(|&&b| b).count()
    }

    /// `Evaluator.eval_hardness`.
    pub fn hardness(&self) -> Hardness {
        let (c1, c2, o) = (self.component1(), self.component2(), self.others());
        if c1 <= 1 && o == 0 && c2 == 0 {
            Hardness::Easy
        } else if (o <= 2 && c1 <= 1 && c2 == 0) || (c1 <= 2 && o < 2 && c2 == 0) {
            Hardness::Medium
        } else if (o > 2 && c1 <= 2 && c2 == 0) || (2 < c1 && c1 <= 3 && o <= 2 && c2 == 0) || (c1 <= 1 && o == 0 && c2 <= 1) {
            Hardness::Hard
        } else {
            Hardness::Extra
        }
    }

    /// Read the official parsed form (dev.json's `sql` field).
    pub fn from_spider_json(sql: &Json) -> Shape {
        let arr = |v: &Json| v.as_array().cloned().unwrap_or_default();
        let has_agg = |col_unit: &Json| col_unit.get(0).and_then(Json::as_i64).unwrap_or(0) != 0;
        let order = arr(&sql["orderBy"]);
        let order_units = order.get(1).map(arr).unwrap_or_default();
        let order_by_aggs = order_units.iter().map(|vu| [&vu[1], &vu[2]].iter().filter(|cu| cu.is_array() && has_agg(cu)).count()).sum();
        Shape {
            table_units: arr(&sql["from"]["table_units"]).len(),
            from_conds: cond_list_from_json(&sql["from"]["conds"]),
            select_aggs: arr(&sql["select"][1]).iter().map(has_agg).collect(),
            where_: cond_list_from_json(&sql["where"]),
            group_by_aggs: arr(&sql["groupBy"]).iter().map(has_agg).collect(),
            having: cond_list_from_json(&sql["having"]),
            order_by: !order.is_empty(),
            order_by_aggs,
            limit: !sql["limit"].is_null(),
            set_op: ["intersect", "union", "except"].iter().any(|k| sql[*k].is_object()),
        }
    }
}

/// The official `WHERE_OPS` index of `like`.
const LIKE_OP: i64 = 9;

fn cond_list_from_json(v: &Json) -> CondList {
    let mut list = CondList::default();
    for item in v.as_array().into_iter().flatten() {
        match item.as_str() {
            Some("and") => list.ands += 1,
            Some("or") => list.ors += 1,
            Some(_) => {}
            None => list.conds.push(Cond {
                not: item[0].as_bool().unwrap_or(false),
                like: item[1].as_i64() == Some(LIKE_OP),
                nested: usize::from(item[3].is_object()) + usize::from(item[4].is_object()),
            }),
        }
    }
    list
}
