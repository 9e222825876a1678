//! Query text -> [`Shape`]: a lenient recursive-descent walk that follows the structure of the
//! official `process_sql.py` (FROM units, condition lists, GROUP BY, HAVING, ORDER BY, LIMIT, set
//! operations) and records only what the hardness rules count. Where the official parser would give
//! up (LEFT JOIN, comma joins, `IS NOT NULL`, parenthesised conditions) this one keeps going, so every
//! train query gets a hardness.
use super::hardness::{Cond, CondList, Shape};
use crate::sqllex::{lex, Kind};

/// The hardness-relevant shape of the first SELECT in `sql` (set operations included).
pub fn shape_of(sql: &str) -> Shape {
    parse(sql).0
}

/// The shape and the tokens left over after it (0 when the walk understood the whole query).
pub fn parse(sql: &str) -> (Shape, usize) {
    let toks: Vec<(Kind, String)> = lex(sql)
        .into_iter()
        .filter(|t| !t.is_trivia())
        .map(|t| (t.kind, if t.kind == Kind::Word { t.text.to_ascii_lowercase() } else { t.text.to_string() }))
        .collect();
    let mut p = Parser { toks, i: 0 };
    let shape = p.query();
    (shape, p.toks.len().saturating_sub(p.i))
}

const AGGS: [&str; 5] = ["max", "min", "count", "sum", "avg"];
/// Tokens that end a clause (the official CLAUSE_KEYWORDS plus HAVING and the closers).
const CLAUSE_END: [&str; 12] = ["select", "from", "where", "group", "having", "order", "limit", "intersect", "union", "except", ")", ";"];
const JOIN_MODIFIERS: [&str; 6] = ["left", "right", "inner", "outer", "cross", "natural"];
const COMPARISONS: [&str; 9] = ["=", "==", "!=", "<>", ">", "<", ">=", "<=", "!"];
const KEYWORD_OPS: [&str; 5] = ["between", "in", "like", "is", "exists"];
const UNIT_OPS: [&str; 5] = ["+", "-", "*", "/", "||"];

struct Parser {
    toks: Vec<(Kind, String)>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> &str {
        self.peek_at(0)
    }

    fn peek_at(&self, k: usize) -> &str {
        self.toks.get(self.i + k).map_or("", |t| t.1.as_str())
    }

    fn done(&self) -> bool {
        self.i >= self.toks.len()
    }

    fn eat(&mut self, s: &str) -> bool {
        let hit = !self.done() && self.peek() == s && self.toks[self.i].0 != Kind::Str;
        if hit {
            self.i += 1;
        }
        hit
    }

    fn at_clause_end(&self) -> bool {
        self.done() || CLAUSE_END.contains(&self.peek())
    }

    /// Skip one operand: a dotted name (`T1.name`, `T1.*`), one token, or a balanced `( ... )` group.
    fn skip_item(&mut self) {
        if self.peek() != "(" {
            self.i += 1;
            while self.peek() == "." && !self.peek_at(1).is_empty() {
                self.i += 2;
            }
            return;
        }
        let mut depth = 0usize;
        while !self.done() {
            match self.peek() {
                "(" => depth += 1,
                ")" => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.i += 1;
            if depth == 0 {
                return;
            }
        }
    }

    /// Does an aggregate call start here: `count (`?
    fn at_agg(&self) -> bool {
        AGGS.contains(&self.peek()) && self.peek_at(1) == "("
    }

    /// `[ ( ] SELECT ... [ ) ] [ INTERSECT|UNION|EXCEPT query ]`
    fn query(&mut self) -> Shape {
        let block = self.eat("(");
        let mut s = Shape::default();
        if !self.eat("select") {
            return s;
        }
        self.eat("distinct");
        self.eat("all");
        s.select_aggs = self.item_list(|p| p.at_agg());
        if self.eat("from") {
            self.from(&mut s);
        }
        if self.eat("where") {
            s.where_ = self.conds();
        }
        if self.eat("group") {
            self.eat("by");
            s.group_by_aggs = self.item_list(|p| p.at_agg());
        }
        if self.eat("having") {
            s.having = self.conds();
        }
        if self.eat("order") {
            self.eat("by");
            s.order_by = true;
            s.order_by_aggs = self.order_items();
        }
        if self.eat("limit") {
            s.limit = true;
            while !self.at_clause_end() {
                self.skip_item();
            }
        }
        if block {
            self.eat(")");
        }
        while self.eat(";") {}
        if ["intersect", "union", "except"].contains(&self.peek()) {
            self.i += 1;
            self.eat("all");
            s.set_op = true;
            self.query();
        }
        s
    }

    /// Comma-separated items up to the end of the clause; `flag` looks at each item's first token.
    fn item_list(&mut self, flag: impl Fn(&Parser) -> bool) -> Vec<bool> {
        let mut items = Vec::new();
        while !self.at_clause_end() {
            items.push(flag(self));
            while !self.at_clause_end() && self.peek() != "," {
                self.skip_item();
            }
            self.eat(",");
        }
        items
    }

    /// ORDER BY items: each is one or two column units joined by an arithmetic operator; count the
    /// aggregated units.
    fn order_items(&mut self) -> usize {
        let mut aggs = 0;
        while !self.at_clause_end() {
            let block = self.eat("(");
            aggs += usize::from(self.at_agg());
            while !self.at_clause_end() && self.peek() != "," {
                self.skip_item();
                if UNIT_OPS.contains(&self.peek()) {
                    self.i += 1;
                    aggs += usize::from(self.at_agg());
                }
            }
            if block {
                self.eat(")");
            }
            self.eat(",");
        }
        aggs
    }

    /// FROM: table units (tables or sub-queries) joined by JOIN or commas, each with optional ON.
    fn from(&mut self, s: &mut Shape) {
        loop {
            if self.peek() == "(" && self.peek_at(1) == "select" {
                self.i += 1;
                self.query();
                self.eat(")");
            } else if !self.at_clause_end() {
                self.skip_item();
            }
            s.table_units += 1;
            // Optional alias: `AS x` or a bare word that is no keyword.
            if self.eat("as") || (self.toks.get(self.i).is_some_and(|t| t.0 != Kind::Punct) && !self.at_keyword()) {
                self.i += 1;
            }
            if self.eat("on") {
                let more = self.conds();
                if !s.from_conds.conds.is_empty() {
                    s.from_conds.ands += 1;
                }
                merge(&mut s.from_conds, more);
            }
            while JOIN_MODIFIERS.contains(&self.peek()) {
                self.i += 1;
            }
            if !(self.eat("join") || self.eat(",")) {
                return;
            }
        }
    }

    fn at_keyword(&self) -> bool {
        self.at_clause_end() || ["on", "join", "as", ","].contains(&self.peek()) || JOIN_MODIFIERS.contains(&self.peek())
    }

    /// A condition list: units joined by AND/OR; stops at a clause keyword, `)`, JOIN or the end.
    fn conds(&mut self) -> CondList {
        let mut list = CondList::default();
        loop {
            if self.peek() == "(" && self.peek_at(1) != "select" && self.group_is_condition() {
                // `( a = 1 OR b = 2 )`: flatten the group's conditions into this list.
                self.i += 1;
                let inner = self.conds();
                merge(&mut list, inner);
                self.eat(")");
            } else {
                list.conds.push(self.cond());
            }
            if self.eat("and") {
                list.ands += 1;
            } else if self.eat("or") {
                list.ors += 1;
            } else {
                return list;
            }
        }
    }

    /// Is the `( ... )` group starting here a boolean condition rather than a value?
    fn group_is_condition(&self) -> bool {
        let mut depth = 0usize;
        for (k, t) in self.toks[self.i..].iter().enumerate() {
            match t.1.as_str() {
                "(" => depth += 1,
                ")" => {
                    depth -= 1;
                    if depth == 0 {
                        return false;
                    }
                }
                op if depth == 1 && k > 0 && t.0 != Kind::Str && (COMPARISONS.contains(&op) || KEYWORD_OPS.contains(&op)) => return true,
                _ => {}
            }
        }
        false
    }

    /// `val_unit [NOT] op value [AND value]`.
    fn cond(&mut self) -> Cond {
        let mut c = Cond::default();
        // Left operand: everything up to the operator.
        while !self.done() && !self.at_cond_op() && !self.at_cond_end() {
            self.skip_item();
        }
        if self.eat("not") {
            c.not = true;
        }
        let op = self.peek().to_string();
        if self.done() || self.at_cond_end() {
            return c;
        }
        self.i += 1;
        if op == "!" || op == ">" || op == "<" {
            self.eat("="); // `! =`, `> =`, `< =` written with a space
        }
        c.like = op == "like";
        if op == "is" {
            self.eat("not");
        }
        c.nested += self.value();
        if op == "between" && self.eat("and") {
            c.nested += self.value();
        }
        c
    }

    fn at_cond_op(&self) -> bool {
        let t = self.peek();
        let is_str = self.toks.get(self.i).is_some_and(|t| t.0 == Kind::Str);
        !is_str && (COMPARISONS.contains(&t) || KEYWORD_OPS.contains(&t) || (t == "not" && KEYWORD_OPS.contains(&self.peek_at(1))))
    }

    fn at_cond_end(&self) -> bool {
        self.at_clause_end() || ["and", "or", "join", "on"].contains(&self.peek())
    }

    /// One value; returns 1 when it is a sub-query. Arithmetic on plain values is skipped.
    /// The value's own parentheses are eaten here, not by [`Parser::query`], so a set operation
    /// after the closing parenthesis belongs to the outer query (as in `process_sql.parse_value`).
    fn value(&mut self) -> usize {
        let parens = (0..).take_while(|&k| self.peek_at(k) == "(").count();
        if self.peek_at(parens) == "select" {
            self.i += parens;
            self.query();
            for _ in 0..parens {
                self.eat(")");
            }
            return 1;
        }
        self.eat("-"); // a negative number: `BETWEEN -50 AND 50`
        if !self.at_cond_end() {
            self.skip_item();
        }
        while UNIT_OPS.contains(&self.peek()) {
            self.i += 1;
            if !self.at_cond_end() {
                self.skip_item();
            }
        }
        0
    }
}

fn merge(into: &mut CondList, more: CondList) {
    into.conds.extend(more.conds);
    into.ands += more.ands;
    into.ors += more.ors;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spider::hardness::Hardness;

    fn h(sql: &str) -> Hardness {
        shape_of(sql).hardness()
    }

    #[test]
    fn simple_count_is_easy() {
        assert_eq!(h("SELECT count(*) FROM singer"), Hardness::Easy);
        assert_eq!(h("SELECT name FROM singer WHERE age > 20"), Hardness::Easy);
    }

    #[test]
    fn join_with_where_is_medium() {
        assert_eq!(h("SELECT T1.a FROM x AS T1 JOIN y AS T2 ON T1.id = T2.id WHERE T2.b = 'c'"), Hardness::Medium);
    }

    #[test]
    fn nested_and_set_ops_count_as_components2() {
        let s = shape_of("SELECT a FROM t WHERE b IN (SELECT b FROM u) INTERSECT SELECT a FROM v");
        assert_eq!(s.where_.conds[0].nested, 1);
        assert!(s.set_op);
        assert_eq!(h("SELECT a FROM t WHERE b IN (SELECT b FROM u) INTERSECT SELECT a FROM v"), Hardness::Extra);
    }

    #[test]
    fn between_and_is_one_condition() {
        let s = shape_of("SELECT a FROM t WHERE b BETWEEN 1 AND 5 AND c LIKE '%x%' OR NOT d IN (1, 2)");
        assert_eq!(s.where_.conds.len(), 3);
        assert_eq!((s.where_.ands, s.where_.ors), (1, 1));
        assert!(s.where_.conds[1].like);
    }

    #[test]
    fn order_by_aggregates_are_counted() {
        let s = shape_of("SELECT a FROM t GROUP BY a ORDER BY count(*) DESC, sum(b) - max(c) LIMIT 1");
        assert_eq!(s.order_by_aggs, 3);
        assert!(s.limit);
        assert_eq!(s.group_by_aggs, vec![false]);
    }
}
