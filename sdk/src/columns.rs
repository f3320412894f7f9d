//! Typed, zero-copy views over chunk columns, and builders for output columns.

use crate::{
    BooleanColumn, Chunk, ColumnType, ColumnValues, Float64Column, Int64Column, SparseColumn,
    StepError, TagsColumn, TextColumn,
};

/// True when row `row` is present according to an Arrow-style validity
/// bitmap (empty bitmap = every row present).
#[inline]
pub fn is_valid(valid: &[u8], row: usize) -> bool {
    valid.is_empty()
        || valid
            .get(row / 8)
            .is_some_and(|byte| byte & (1 << (row % 8)) != 0)
}

/// Validity bitmap under construction; dropped at `finish` when no row is missing.
#[derive(Debug, Default, Clone)]
struct ValidityBuilder {
    bits: Vec<u8>,
    len: usize,
    missing: usize,
}

impl ValidityBuilder {
    fn with_capacity(rows: usize) -> Self {
        ValidityBuilder {
            bits: Vec::with_capacity(rows.div_ceil(8)),
            len: 0,
            missing: 0,
        }
    }

    #[inline]
    fn push(&mut self, present: bool) {
        if self.len.is_multiple_of(8) {
            self.bits.push(0);
        }
        if present {
            self.bits[self.len / 8] |= 1 << (self.len % 8);
        } else {
            self.missing += 1;
        }
        self.len += 1;
    }

    fn finish(self) -> Vec<u8> {
        if self.missing == 0 {
            Vec::new()
        } else {
            self.bits
        }
    }
}

fn wrong_type(name: &str, wanted: ColumnType, got: &ColumnValues) -> StepError {
    StepError::InvalidInput(format!(
        "column `{name}` should be {wanted}, got {}",
        got.column_type()
    ))
}

macro_rules! accessor {
    ($fn_name:ident, $variant:ident, $ref:ident, $col:ident, $ty:ident) => {
        impl Chunk {
            #[doc = concat!("The `", stringify!($ty), "` column called `name`.")]
            pub fn $fn_name(&self, name: &str) -> Result<$ref<'_>, StepError> {
                match self.column(name)? {
                    ColumnValues::$variant(column) => Ok($ref {
                        column,
                        rows: self.rows as usize,
                    }),
                    other => Err(wrong_type(name, ColumnType::$ty, other)),
                }
            }
        }
    };
}

accessor!(text, Text, TextRef, TextColumn, Text);
accessor!(float64, Float64, Float64Ref, Float64Column, Float64);
accessor!(int64, Int64, Int64Ref, Int64Column, Int64);
accessor!(boolean, Boolean, BoolRef, BooleanColumn, Boolean);
accessor!(sparse, Sparse, SparseRef, SparseColumn, Sparse);
accessor!(tags, Tags, TagsRef, TagsColumn, Tags);

/// A text column; rows are `Option<&str>` (`None` = missing).
#[derive(Debug, Clone, Copy)]
pub struct TextRef<'a> {
    column: &'a TextColumn,
    rows: usize,
}

impl<'a> TextRef<'a> {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `row`, or `None` when it is missing or out of range.
    pub fn get(&self, row: usize) -> Option<&'a str> {
        if row >= self.rows || !is_valid(&self.column.valid, row) {
            return None;
        }
        let start = *self.column.offsets.get(row)? as usize;
        let end = *self.column.offsets.get(row + 1)? as usize;
        self.column.data.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<&'a str>> + '_ {
        (0..self.rows).map(move |row| self.get(row))
    }

    /// Applies `f` to every present row; missing rows stay missing.
    pub fn map<S: AsRef<str>>(&self, mut f: impl FnMut(&str) -> S) -> ColumnValues {
        let mut out = TextBuilder::with_capacity(self.rows, self.column.data.len());
        for value in self.iter() {
            match value {
                Some(text) => out.push(f(text).as_ref()),
                None => out.push_missing(),
            }
        }
        out.finish()
    }
}

macro_rules! scalar_ref {
    ($ref:ident, $col:ident, $t:ty, $conv:expr) => {
        #[doc = concat!("A column of `", stringify!($t), "`; rows are `Option<", stringify!($t), ">`.")]
        #[derive(Debug, Clone, Copy)]
        pub struct $ref<'a> {
            column: &'a $col,
            rows: usize,
        }

        impl<'a> $ref<'a> {
            pub fn len(&self) -> usize {
                self.rows
            }

            pub fn is_empty(&self) -> bool {
                self.rows == 0
            }

            /// Row `row`, or `None` when it is missing or out of range.
            #[inline]
            pub fn get(&self, row: usize) -> Option<$t> {
                if !is_valid(&self.column.valid, row) {
                    return None;
                }
                self.column.values.get(row).map($conv)
            }

            pub fn iter(&self) -> impl Iterator<Item = Option<$t>> + '_ {
                (0..self.rows).map(move |row| self.get(row))
            }
        }
    };
}

scalar_ref!(Float64Ref, Float64Column, f64, |v: &f64| *v);
scalar_ref!(Int64Ref, Int64Column, i64, |v: &i64| *v);
scalar_ref!(BoolRef, BooleanColumn, bool, |v: &u8| *v != 0);

/// A sparse vector column; row `i` is `(indices, values)`.
#[derive(Debug, Clone, Copy)]
pub struct SparseRef<'a> {
    column: &'a SparseColumn,
    rows: usize,
}

impl<'a> SparseRef<'a> {
    pub fn dim(&self) -> u32 {
        self.column.dim
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn get(&self, row: usize) -> Option<(&'a [u32], &'a [f32])> {
        let start = *self.column.row_offsets.get(row)? as usize;
        let end = *self.column.row_offsets.get(row + 1)? as usize;
        Some((
            self.column.indices.get(start..end)?,
            self.column.values.get(start..end)?,
        ))
    }
}

/// A tags column; row `i` is a list of strings.
#[derive(Debug, Clone, Copy)]
pub struct TagsRef<'a> {
    column: &'a TagsColumn,
    rows: usize,
}

impl<'a> TagsRef<'a> {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The tags of row `row` (empty when out of range).
    pub fn get(&self, row: usize) -> Vec<&'a str> {
        let c = self.column;
        let (Some(&first), Some(&last)) = (c.row_offsets.get(row), c.row_offsets.get(row + 1))
        else {
            return Vec::new();
        };
        (first as usize..last as usize)
            .filter_map(|j| {
                let start = *c.offsets.get(j)? as usize;
                let end = *c.offsets.get(j + 1)? as usize;
                c.data.get(start..end)
            })
            .collect()
    }
}

/// Builds a text column row by row.
#[derive(Debug, Clone)]
pub struct TextBuilder {
    data: String,
    offsets: Vec<u32>,
    valid: ValidityBuilder,
}

impl Default for TextBuilder {
    fn default() -> Self {
        Self::with_capacity(0, 0)
    }
}

impl TextBuilder {
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TextBuilder {
            data: String::with_capacity(bytes),
            offsets,
            valid: ValidityBuilder::with_capacity(rows),
        }
    }

    pub fn push(&mut self, value: &str) {
        self.data.push_str(value);
        self.offsets.push(self.data.len() as u32);
        self.valid.push(true);
    }

    pub fn push_missing(&mut self) {
        self.offsets.push(self.data.len() as u32);
        self.valid.push(false);
    }

    pub fn push_option(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.push(v),
            None => self.push_missing(),
        }
    }

    /// Direct access to the row being written: append to the returned
    /// string, then call [`TextBuilder::end_row`]. Avoids a temporary
    /// `String` per row in hot loops.
    pub fn buffer(&mut self) -> &mut String {
        &mut self.data
    }

    /// Ends the row whose bytes were appended through [`TextBuilder::buffer`].
    pub fn end_row(&mut self) {
        self.offsets.push(self.data.len() as u32);
        self.valid.push(true);
    }

    pub fn finish(self) -> ColumnValues {
        ColumnValues::Text(TextColumn {
            data: self.data,
            offsets: self.offsets,
            valid: self.valid.finish(),
        })
    }
}

macro_rules! scalar_builder {
    ($builder:ident, $variant:ident, $col:ident, $t:ty, $store:ty, $conv:expr) => {
        #[doc = concat!("Builds a `", stringify!($t), "` column row by row.")]
        #[derive(Debug, Default, Clone)]
        pub struct $builder {
            values: Vec<$store>,
            valid: ValidityBuilder,
        }

        impl $builder {
            pub fn with_capacity(rows: usize) -> Self {
                $builder {
                    values: Vec::with_capacity(rows),
                    valid: ValidityBuilder::with_capacity(rows),
                }
            }

            #[inline]
            pub fn push(&mut self, value: $t) {
                self.values.push($conv(value));
                self.valid.push(true);
            }

            #[inline]
            pub fn push_missing(&mut self) {
                self.values.push(<$store>::default());
                self.valid.push(false);
            }

            #[inline]
            pub fn push_option(&mut self, value: Option<$t>) {
                match value {
                    Some(v) => self.push(v),
                    None => self.push_missing(),
                }
            }

            pub fn finish(self) -> ColumnValues {
                ColumnValues::$variant($col {
                    values: self.values,
                    valid: self.valid.finish(),
                })
            }
        }
    };
}

scalar_builder!(Float64Builder, Float64, Float64Column, f64, f64, |v: f64| v);
scalar_builder!(Int64Builder, Int64, Int64Column, i64, i64, |v: i64| v);
scalar_builder!(BoolBuilder, Boolean, BooleanColumn, bool, u8, |v: bool| v
    as u8);

/// Builds a sparse column row by row.
#[derive(Debug, Clone)]
pub struct SparseBuilder {
    column: SparseColumn,
}

impl SparseBuilder {
    pub fn new(dim: u32, rows: usize) -> Self {
        let mut row_offsets = Vec::with_capacity(rows + 1);
        row_offsets.push(0);
        SparseBuilder {
            column: SparseColumn {
                dim,
                row_offsets,
                indices: Vec::new(),
                values: Vec::new(),
            },
        }
    }

    /// Appends one row; `entries` should have distinct indices below `dim`.
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (u32, f32)>) {
        for (index, value) in entries {
            self.column.indices.push(index);
            self.column.values.push(value);
        }
        self.column
            .row_offsets
            .push(self.column.indices.len() as u32);
    }

    pub fn finish(self) -> ColumnValues {
        ColumnValues::Sparse(self.column)
    }
}

/// Builds a tags column row by row.
#[derive(Debug, Clone)]
pub struct TagsBuilder {
    column: TagsColumn,
}

impl Default for TagsBuilder {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl TagsBuilder {
    pub fn with_capacity(rows: usize) -> Self {
        let mut row_offsets = Vec::with_capacity(rows + 1);
        row_offsets.push(0);
        TagsBuilder {
            column: TagsColumn {
                data: String::new(),
                offsets: vec![0],
                row_offsets,
            },
        }
    }

    /// Appends one row holding `tags`.
    pub fn push_row<S: AsRef<str>>(&mut self, tags: impl IntoIterator<Item = S>) {
        for tag in tags {
            self.column.data.push_str(tag.as_ref());
            self.column.offsets.push(self.column.data.len() as u32);
        }
        self.column
            .row_offsets
            .push(self.column.offsets.len() as u32 - 1);
    }

    pub fn finish(self) -> ColumnValues {
        ColumnValues::Tags(self.column)
    }
}
