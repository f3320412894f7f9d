//! The audit chain's hashing rules. Changing anything here invalidates every
//! existing chain, so treat it as a file format.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first row.
pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Key for `pg_advisory_xact_lock` serialising appends ("sluice" + 1).
pub(super) const PG_AUDIT_LOCK: i64 = 0x736c_7569_6365_0001;

/// JSON with object keys sorted and no whitespace, so equal values hash
/// equally whatever key order the caller built them in (and whether or not
/// serde_json's `preserve_order` feature is on somewhere in the build).
pub(super) fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = Map::new();
                for (k, v) in entries {
                    out.insert(k.clone(), sorted(v));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// The hashed fields of one row.
pub(super) struct RowContent<'a> {
    pub id: i64,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    /// Already canonical, hashed as stored.
    pub detail: &'a str,
}

/// `hex(sha256(prev_hash || content))`, content being the JSON array
/// `[id, at, actor, action, subject, detail]`: JSON string escaping keeps
/// field boundaries unambiguous.
pub(super) fn row_hash(prev_hash: &str, row: &RowContent<'_>) -> String {
    let content = Value::Array(vec![
        row.id.into(),
        row.at.into(),
        row.actor.into(),
        row.action.into(),
        row.subject.into(),
        row.detail.into(),
    ])
    .to_string();
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(content.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let a = json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "c": null}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn hash_is_stable_and_field_sensitive() {
        let row = RowContent {
            id: 1,
            at: 2,
            actor: "a",
            action: "run.start",
            subject: "s",
            detail: "{}",
        };
        let h = row_hash(GENESIS, &row);
        assert_eq!(h.len(), 64);
        assert_eq!(h, row_hash(GENESIS, &row));
        // moving a character between adjacent fields changes the hash
        let shifted = RowContent {
            actor: "ar",
            action: "un.start",
            ..row
        };
        let row = RowContent {
            actor: "a",
            action: "run.start",
            ..shifted
        };
        assert_eq!(h, row_hash(GENESIS, &row));
        assert_ne!(h, row_hash(GENESIS, &shifted));
    }
}
