//! `Table` responses (kubectl's `get` output) and the kubectl-flavoured JSONPath that fills their cells.
//!
//! API contract: [`Column`], [`default_columns`], [`render_table`], [`jsonpath_cell`].

use serde_json::Value;

/// A table column (from a CRD's `additionalPrinterColumns`, or a built-in kind's fixed columns).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Header, e.g. `Ready`.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date` (dates render as ages like `5m12s`).
    pub type_: String,
    /// Printer format (`name` for the Name column, usually empty).
    pub format: String,
    /// Column description.
    pub description: String,
    /// 0 = always shown; >0 = only with `-o wide`.
    pub priority: i64,
    /// JSONPath selecting the cell value, e.g. `.status.conditions[?(@.type=="Ready")].status`.
    pub json_path: String,
}

/// The columns of a kind without printer columns: `Name` and `Age`.
pub fn default_columns() -> Vec<Column> {
    Vec::new()
}

/// Evaluates a kubectl JSONPath (`.a.b`, `[0]`, `[*]`, `[?(@.k=="v")]`) against `object` and renders the
/// cell: strings as-is, several matches joined by `,`, nothing matched → empty string; `date` columns
/// become ages relative to `now_unix` (seconds).
pub fn jsonpath_cell(_object: &Value, _column: &Column, _now_unix: i64) -> Value {
    Value::Null
}

/// Renders a `meta.k8s.io/v1` Table of `objects` with a leading `Name` column followed by `columns`;
/// each row's `object` is the item's PartialObjectMetadata. `list_metadata` becomes the table's metadata
/// (resourceVersion, continue).
pub fn render_table(
    _columns: &[Column],
    _objects: &[Value],
    _list_metadata: Value,
    _now_unix: i64,
) -> Value {
    Value::Null
}
