//! The byte budget of decoded YAML/JSON: how much memory one document may expand to, counting
//! every alias expansion. One implementation for every reader of outside input (the kustomize
//! YAML reader, the API server's request bodies): a few hundred bytes of aliases must not turn
//! into gigabytes of values.
//!
//! Cost model: a scalar costs its text length plus [`NODE_COST`]; a map or list costs
//! [`NODE_COST`] plus its entries (map keys as scalars). An alias costs what its anchor cost.

use serde_json::Value;
use std::collections::HashMap;

/// Fixed cost of one node (scalar, map, list), roughly its in-memory overhead.
pub const NODE_COST: usize = 8;

/// Default limit of one decoded document stream: twice the largest file the readers accept, so
/// any alias-free file fits and alias bombs stop early.
pub const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;

/// The budget was exhausted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "decoded document exceeds the limit of {limit} bytes (aliases expand to more than the input allows; alias bomb?)"
)]
pub struct BudgetExceeded {
    /// The limit in bytes.
    pub limit: usize,
}

/// A byte budget charged while a document is decoded.
#[derive(Debug, Clone)]
pub struct DecodeBudget {
    limit: usize,
    used: usize,
}

impl Default for DecodeBudget {
    fn default() -> Self {
        DecodeBudget::new(MAX_DECODED_BYTES)
    }
}

impl DecodeBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        DecodeBudget { limit, used: 0 }
    }

    /// Charges `bytes`; fails once the total passes the limit.
    pub fn charge(&mut self, bytes: usize) -> Result<(), BudgetExceeded> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(BudgetExceeded { limit: self.limit });
        }
        Ok(())
    }

    /// Whether `bytes` more would still fit (nothing is charged).
    pub fn fits(&self, bytes: usize) -> bool {
        self.used.saturating_add(bytes) <= self.limit
    }

    /// Bytes charged so far.
    pub fn used(&self) -> usize {
        self.used
    }
}

/// The cost of a decoded value under the cost model (iterative: any depth is safe).
pub fn value_cost(v: &Value) -> usize {
    let mut total = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total = total.saturating_add(NODE_COST);
        match v {
            Value::String(s) => total = total.saturating_add(s.len()),
            Value::Number(_) | Value::Bool(_) | Value::Null => total = total.saturating_add(8),
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(map) => {
                for (k, item) in map {
                    total = total.saturating_add(NODE_COST + k.len());
                    stack.push(item);
                }
            }
        }
    }
    total
}

/// Checks, without building any value, that the YAML stream `text` stays within `budget` once
/// its aliases are expanded. Syntax errors end the scan without an error: the decoder that
/// runs next reports them with its own position.
pub fn check_yaml(text: &str, budget: &mut DecodeBudget) -> Result<(), BudgetExceeded> {
    use serde_saphyr::granit_parser::{Event, Parser};
    // Expanded cost of every anchor of the current document.
    let mut anchors: HashMap<usize, usize> = HashMap::new();
    // Open collections: (anchor id, cost so far).
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    let add = |open: &mut Vec<(usize, usize)>, cost: usize| {
        if let Some(top) = open.last_mut() {
            top.1 = top.1.saturating_add(cost);
        }
    };
    while let Some(Ok((event, _))) = parser.next() {
        match event {
            Event::DocumentStart(..) => anchors.clear(),
            Event::Scalar(text, _, anchor, _) => {
                let cost = NODE_COST.saturating_add(text.len());
                budget.charge(cost)?;
                if anchor != 0 {
                    anchors.insert(anchor, cost);
                }
                add(&mut open, cost);
            }
            Event::Alias(id) => {
                let cost = anchors.get(&id).copied().unwrap_or(NODE_COST);
                budget.charge(cost)?;
                add(&mut open, cost);
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                budget.charge(NODE_COST)?;
                open.push((anchor, NODE_COST));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, cost)) = open.pop() {
                    if anchor != 0 {
                        anchors.insert(anchor, cost);
                    }
                    add(&mut open, cost);
                }
            }
            Event::StreamEnd => break,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A 1 MiB string under five levels of ×10 aliases (100,000 expansions, 100 GiB decoded).
    fn alias_bomb() -> String {
        let mut y = format!("a0: &a0 \"{}\"\n", "x".repeat(1 << 20));
        for level in 1..=5 {
            let refs = vec![format!("*a{}", level - 1); 10].join(", ");
            y.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
        }
        y
    }

    #[test]
    fn charges_add_up_and_stop_at_the_limit() {
        let mut b = DecodeBudget::new(10);
        assert!(b.charge(6).is_ok());
        assert!(b.fits(4));
        assert!(!b.fits(5));
        let e = b.charge(5).unwrap_err();
        assert_eq!(e.limit, 10);
        assert!(e.to_string().contains("10 bytes"), "{e}");
    }

    #[test]
    fn value_cost_counts_strings_keys_and_nodes() {
        assert_eq!(value_cost(&json!("abc")), NODE_COST + 3);
        let v = json!({"ab": ["x", 1]});
        // map + key + list + "x" + number
        assert_eq!(
            value_cost(&v),
            NODE_COST + (NODE_COST + 2) + NODE_COST + (NODE_COST + 1) + (NODE_COST + 8)
        );
    }

    #[test]
    fn yaml_alias_bomb_is_refused_by_the_scan() {
        let text = alias_bomb();
        let mut b = DecodeBudget::default();
        let e = check_yaml(&text, &mut b).unwrap_err();
        assert_eq!(e.limit, MAX_DECODED_BYTES);
    }

    #[test]
    fn ordinary_yaml_with_aliases_passes_the_scan() {
        let text = "base: &b {x: 1, y: [a, b]}\nother: *b\nthird: *b\n";
        let mut b = DecodeBudget::default();
        check_yaml(text, &mut b).unwrap();
        assert!(b.used() > 0 && b.used() < 1000, "{}", b.used());
    }

    #[test]
    fn scan_stops_quietly_on_syntax_errors() {
        let mut b = DecodeBudget::default();
        assert!(check_yaml("a: [unclosed\n", &mut b).is_ok());
        assert!(check_yaml("*undefined\n", &mut b).is_ok());
    }
}
