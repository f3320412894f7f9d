//! Columnar chunks as the host holds them: the same layout as the WIT
//! `chunk` (flat buffers, offsets, validity bitmaps), with the validation
//! the host applies to everything a plugin returns.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColumnType {
    Float64,
    Int64,
    Boolean,
    Text,
    Sparse,
    Tags,
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnType::Float64 => "float64",
            ColumnType::Int64 => "int64",
            ColumnType::Boolean => "boolean",
            ColumnType::Text => "text",
            ColumnType::Sparse => "sparse",
            ColumnType::Tags => "tags",
        })
    }
}

/// One column's values. Validity bitmaps: bit `i % 8` of byte `i / 8` set =
/// row `i` present; empty = all present.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    Float64 {
        values: Vec<f64>,
        valid: Vec<u8>,
    },
    Int64 {
        values: Vec<i64>,
        valid: Vec<u8>,
    },
    Boolean {
        values: Vec<u8>,
        valid: Vec<u8>,
    },
    Text {
        data: String,
        offsets: Vec<u32>,
        valid: Vec<u8>,
    },
    Sparse {
        dim: u32,
        row_offsets: Vec<u32>,
        indices: Vec<u32>,
        values: Vec<f32>,
    },
    Tags {
        data: String,
        offsets: Vec<u32>,
        row_offsets: Vec<u32>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: ColumnValues,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chunk {
    pub rows: u32,
    pub columns: Vec<Column>,
}

/// Why a chunk's buffers are inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column `{column}`: {problem}")]
pub struct ChunkError {
    pub column: String,
    pub problem: String,
}

#[inline]
pub fn is_valid(valid: &[u8], row: usize) -> bool {
    valid.is_empty()
        || valid
            .get(row / 8)
            .is_some_and(|b| b & (1 << (row % 8)) != 0)
}

impl ColumnValues {
    pub fn column_type(&self) -> ColumnType {
        match self {
            ColumnValues::Float64 { .. } => ColumnType::Float64,
            ColumnValues::Int64 { .. } => ColumnType::Int64,
            ColumnValues::Boolean { .. } => ColumnType::Boolean,
            ColumnValues::Text { .. } => ColumnType::Text,
            ColumnValues::Sparse { .. } => ColumnType::Sparse,
            ColumnValues::Tags { .. } => ColumnType::Tags,
        }
    }

    /// Bytes held in buffers (what a limit on output size counts).
    pub fn byte_size(&self) -> usize {
        match self {
            ColumnValues::Float64 { values, valid } => values.len() * 8 + valid.len(),
            ColumnValues::Int64 { values, valid } => values.len() * 8 + valid.len(),
            ColumnValues::Boolean { values, valid } => values.len() + valid.len(),
            ColumnValues::Text {
                data,
                offsets,
                valid,
            } => data.len() + offsets.len() * 4 + valid.len(),
            ColumnValues::Sparse {
                row_offsets,
                indices,
                values,
                ..
            } => (row_offsets.len() + indices.len() + values.len()) * 4,
            ColumnValues::Tags {
                data,
                offsets,
                row_offsets,
            } => data.len() + (offsets.len() + row_offsets.len()) * 4,
        }
    }

    /// Checks that the buffers describe exactly `rows` rows and that every
    /// offset lies inside its buffer (and, for text, on a character
    /// boundary), so later slicing can neither panic nor over-read.
    pub fn validate(&self, rows: usize) -> Result<(), String> {
        let check_valid = |valid: &[u8]| {
            if valid.is_empty() || valid.len() == rows.div_ceil(8) {
                Ok(())
            } else {
                Err(format!(
                    "validity bitmap has {} bytes, {} rows need {}",
                    valid.len(),
                    rows,
                    rows.div_ceil(8)
                ))
            }
        };
        let check_len = |what: &str, len: usize, want: usize| {
            if len == want {
                Ok(())
            } else {
                Err(format!("{what} has {len} entries, expected {want}"))
            }
        };
        match self {
            ColumnValues::Float64 { values, valid } => {
                check_len("values", values.len(), rows)?;
                check_valid(valid)
            }
            ColumnValues::Int64 { values, valid } => {
                check_len("values", values.len(), rows)?;
                check_valid(valid)
            }
            ColumnValues::Boolean { values, valid } => {
                check_len("values", values.len(), rows)?;
                check_valid(valid)
            }
            ColumnValues::Text {
                data,
                offsets,
                valid,
            } => {
                check_len("offsets", offsets.len(), rows + 1)?;
                check_offsets("offsets", offsets, data.len())?;
                if let Some(bad) = offsets
                    .iter()
                    .find(|&&o| !data.is_char_boundary(o as usize))
                {
                    return Err(format!("offset {bad} splits a UTF-8 character"));
                }
                check_valid(valid)
            }
            ColumnValues::Sparse {
                dim,
                row_offsets,
                indices,
                values,
            } => {
                check_len("row-offsets", row_offsets.len(), rows + 1)?;
                check_len("values", values.len(), indices.len())?;
                check_offsets("row-offsets", row_offsets, indices.len())?;
                if let Some(bad) = indices.iter().find(|&&i| i >= *dim) {
                    return Err(format!("index {bad} is not below dim {dim}"));
                }
                Ok(())
            }
            ColumnValues::Tags {
                data,
                offsets,
                row_offsets,
            } => {
                check_len("row-offsets", row_offsets.len(), rows + 1)?;
                if offsets.is_empty() {
                    return Err("offsets must hold at least the initial 0".into());
                }
                check_offsets("offsets", offsets, data.len())?;
                if let Some(bad) = offsets
                    .iter()
                    .find(|&&o| !data.is_char_boundary(o as usize))
                {
                    return Err(format!("offset {bad} splits a UTF-8 character"));
                }
                check_offsets("row-offsets", row_offsets, offsets.len() - 1)
            }
        }
    }
}

/// Offsets must start at 0, never decrease and end exactly at `end`.
fn check_offsets(what: &str, offsets: &[u32], end: usize) -> Result<(), String> {
    if offsets.first() != Some(&0) {
        return Err(format!("{what} must start at 0"));
    }
    if let Some(w) = offsets.windows(2).find(|w| w[1] < w[0]) {
        return Err(format!("{what} decrease ({} then {})", w[0], w[1]));
    }
    let last = *offsets.last().unwrap() as usize;
    if last != end {
        return Err(format!("{what} end at {last} but the buffer holds {end}"));
    }
    Ok(())
}

impl Chunk {
    pub fn new(rows: u32) -> Self {
        Chunk {
            rows,
            columns: Vec::new(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&ColumnValues> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.values)
    }

    /// Adds a column, replacing one of the same name.
    pub fn set(&mut self, name: &str, values: ColumnValues) {
        match self.columns.iter_mut().find(|c| c.name == name) {
            Some(column) => column.values = values,
            None => self.columns.push(Column {
                name: name.to_string(),
                values,
            }),
        }
    }

    pub fn byte_size(&self) -> usize {
        self.columns
            .iter()
            .map(|c| c.name.len() + c.values.byte_size())
            .sum()
    }

    /// Validates every column against `rows`; also refuses duplicate names.
    pub fn validate(&self) -> Result<(), ChunkError> {
        for (i, column) in self.columns.iter().enumerate() {
            if self.columns[..i].iter().any(|c| c.name == column.name) {
                return Err(ChunkError {
                    column: column.name.clone(),
                    problem: "appears twice".into(),
                });
            }
            column
                .values
                .validate(self.rows as usize)
                .map_err(|problem| ChunkError {
                    column: column.name.clone(),
                    problem,
                })?;
        }
        Ok(())
    }

    /// Text of row `row` of a text column (None when missing).
    pub fn text(&self, name: &str, row: usize) -> Option<&str> {
        match self.column(name)? {
            ColumnValues::Text {
                data,
                offsets,
                valid,
            } if is_valid(valid, row) => {
                data.get(*offsets.get(row)? as usize..*offsets.get(row + 1)? as usize)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(data: &str, offsets: Vec<u32>) -> ColumnValues {
        ColumnValues::Text {
            data: data.into(),
            offsets,
            valid: vec![],
        }
    }

    #[test]
    fn accepts_well_formed_text() {
        assert_eq!(text("abcd", vec![0, 1, 4]).validate(2), Ok(()));
    }

    #[test]
    fn rejects_offsets_past_the_buffer_or_decreasing_or_mid_character() {
        assert!(
            text("ab", vec![0, 1_000_000])
                .validate(1)
                .unwrap_err()
                .contains("end at")
        );
        assert!(
            text("abc", vec![0, 2, 1, 3])
                .validate(3)
                .unwrap_err()
                .contains("decrease")
        );
        assert!(
            text("abc", vec![1, 3])
                .validate(1)
                .unwrap_err()
                .contains("start at 0")
        );
        assert!(
            text("é", vec![0, 1, 2])
                .validate(2)
                .unwrap_err()
                .contains("UTF-8")
        );
        assert!(
            text("ab", vec![0, 2])
                .validate(2)
                .unwrap_err()
                .contains("offsets has 2")
        );
    }

    #[test]
    fn rejects_bad_bitmaps_sparse_indices_and_duplicates() {
        let floats = ColumnValues::Float64 {
            values: vec![1.0; 9],
            valid: vec![0xff],
        };
        assert!(floats.validate(9).unwrap_err().contains("bitmap"));
        let sparse = ColumnValues::Sparse {
            dim: 4,
            row_offsets: vec![0, 1],
            indices: vec![4],
            values: vec![1.0],
        };
        assert!(sparse.validate(1).unwrap_err().contains("below dim"));
        let mut chunk = Chunk::new(1);
        chunk.columns.push(Column {
            name: "a".into(),
            values: text("x", vec![0, 1]),
        });
        chunk.columns.push(Column {
            name: "a".into(),
            values: text("y", vec![0, 1]),
        });
        assert!(chunk.validate().unwrap_err().to_string().contains("twice"));
    }
}
