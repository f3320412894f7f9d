//! The one place that converts between Arrow arrays and chunks.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float32Array, Float64Array, Int64Array, ListArray,
    RecordBatch, StringArray, StructArray, UInt32Array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Fields, Schema};

use sluice_core::{Chunk, Column, ColumnType, ColumnValues};

use super::DataError;

/// Metadata key that records a sparse column's dimension on its Arrow field.
const SPARSE_DIM_KEY: &str = "sluice.sparse.dim";

fn column_error(column: &str, message: impl Into<String>) -> DataError {
    DataError::Column {
        column: column.to_string(),
        message: message.into(),
    }
}

fn bitmap(array: &dyn Array) -> Vec<u8> {
    match array.logical_nulls() {
        Some(nulls) if nulls.null_count() > 0 => {
            let mut bits = vec![0u8; array.len().div_ceil(8)];
            for (row, present) in nulls.iter().enumerate() {
                if present {
                    bits[row / 8] |= 1 << (row % 8);
                }
            }
            bits
        }
        _ => Vec::new(),
    }
}

fn null_buffer(valid: &[u8], rows: usize) -> Option<NullBuffer> {
    if valid.is_empty() {
        return None;
    }
    Some(NullBuffer::new(BooleanBuffer::new(
        valid.to_vec().into(),
        0,
        rows,
    )))
}

/// Takes `columns` (name, declared type) from `batch` into a chunk,
/// converting to the declared type where that is lossless (integers to
/// float64, any string type to text).
pub fn batch_to_chunk(
    batch: &RecordBatch,
    columns: &[(String, ColumnType)],
) -> Result<Chunk, DataError> {
    let mut chunk = Chunk::new(batch.num_rows() as u32);
    for (name, ty) in columns {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| DataError::MissingColumn {
                column: name.clone(),
                available: batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let field = batch.schema().field_with_name(name).cloned().ok();
        chunk.columns.push(Column {
            name: name.clone(),
            values: array_to_values(name, array, *ty, field.as_ref())?,
        });
    }
    Ok(chunk)
}

/// Whether an Arrow column of type `dt` can feed a step column of type
/// `ty` without loss (numbers widen to float64, any string type is text).
pub fn accepts(ty: ColumnType, dt: &DataType) -> bool {
    match (ty, dt) {
        (_, DataType::Null) => !matches!(ty, ColumnType::Sparse | ColumnType::Tags),
        (ColumnType::Float64, dt) => dt.is_numeric(),
        (ColumnType::Int64, dt) => dt.is_integer(),
        (ColumnType::Boolean, dt) => *dt == DataType::Boolean,
        (ColumnType::Text, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => true,
        (ColumnType::Tags, DataType::List(item)) => item.data_type() == &DataType::Utf8,
        (ColumnType::Sparse, DataType::List(item)) => {
            matches!(item.data_type(), DataType::Struct(_))
        }
        _ => false,
    }
}

/// The Arrow type a step's output column of type `ty` is stored as.
pub fn data_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Text => DataType::Utf8,
        ColumnType::Tags => DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
        ColumnType::Sparse => DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(Fields::from(vec![
                Field::new("index", DataType::UInt32, false),
                Field::new("value", DataType::Float32, false),
            ])),
            false,
        ))),
    }
}

fn array_to_values(
    name: &str,
    array: &ArrayRef,
    ty: ColumnType,
    field: Option<&Field>,
) -> Result<ColumnValues, DataError> {
    let cast_to = |target: &DataType| -> Result<ArrayRef, DataError> {
        if array.data_type() == target {
            return Ok(array.clone());
        }
        if !accepts(ty, array.data_type()) {
            return Err(column_error(
                name,
                format!("is {}, the step needs {ty}", array.data_type()),
            ));
        }
        cast(array, target).map_err(|e| column_error(name, e.to_string()))
    };
    Ok(match ty {
        ColumnType::Float64 => {
            let array = cast_to(&DataType::Float64)?;
            let values = array.as_primitive::<arrow::datatypes::Float64Type>();
            ColumnValues::Float64 {
                values: values.values().to_vec(),
                valid: bitmap(values),
            }
        }
        ColumnType::Int64 => {
            let array = cast_to(&DataType::Int64)?;
            let values = array.as_primitive::<arrow::datatypes::Int64Type>();
            ColumnValues::Int64 {
                values: values.values().to_vec(),
                valid: bitmap(values),
            }
        }
        ColumnType::Boolean => {
            let array = cast_to(&DataType::Boolean)?;
            let values = array.as_boolean();
            ColumnValues::Boolean {
                values: values.values().iter().map(u8::from).collect(),
                valid: bitmap(values),
            }
        }
        ColumnType::Text => {
            let array = cast_to(&DataType::Utf8)?;
            let strings = array.as_string::<i32>();
            let offsets = strings.value_offsets();
            let base = offsets[0];
            let bytes = &strings.value_data()[base as usize..offsets[offsets.len() - 1] as usize];
            // Arrow guarantees UTF-8; checking again is cheap and keeps this safe code.
            let data = std::str::from_utf8(bytes)
                .map_err(|e| column_error(name, e.to_string()))?
                .to_string();
            ColumnValues::Text {
                data,
                offsets: offsets.iter().map(|o| (o - base) as u32).collect(),
                valid: bitmap(strings),
            }
        }
        ColumnType::Tags => {
            let list = array.as_list_opt::<i32>().ok_or_else(|| {
                column_error(
                    name,
                    format!(
                        "is {}, the step needs tags (a list of strings)",
                        array.data_type()
                    ),
                )
            })?;
            let strings = list
                .values()
                .as_string_opt::<i32>()
                .ok_or_else(|| column_error(name, "tags must be a list of strings"))?;
            let mut data = String::new();
            let mut offsets = vec![0u32];
            let mut row_offsets = vec![0u32];
            for row in 0..list.len() {
                let (start, end) = (
                    list.value_offsets()[row] as usize,
                    list.value_offsets()[row + 1] as usize,
                );
                for j in start..end {
                    data.push_str(strings.value(j));
                    offsets.push(data.len() as u32);
                }
                row_offsets.push(offsets.len() as u32 - 1);
            }
            ColumnValues::Tags {
                data,
                offsets,
                row_offsets,
            }
        }
        ColumnType::Sparse => {
            let dim = field
                .and_then(|f| f.metadata().get(SPARSE_DIM_KEY))
                .and_then(|d| d.parse::<u32>().ok())
                .ok_or_else(|| {
                    column_error(
                        name,
                        "is not a sparse column written by sluice (no dimension recorded)",
                    )
                })?;
            let list = array
                .as_list_opt::<i32>()
                .ok_or_else(|| column_error(name, "sparse columns are lists of (index, value)"))?;
            let entries = list.values().as_struct();
            let indices = entries
                .column(0)
                .as_primitive::<arrow::datatypes::UInt32Type>();
            let values = entries
                .column(1)
                .as_primitive::<arrow::datatypes::Float32Type>();
            let base = list.value_offsets()[0];
            let end = list.value_offsets()[list.len()];
            ColumnValues::Sparse {
                dim,
                row_offsets: list
                    .value_offsets()
                    .iter()
                    .map(|o| (o - base) as u32)
                    .collect(),
                indices: indices.values()[base as usize..end as usize].to_vec(),
                values: values.values()[base as usize..end as usize].to_vec(),
            }
        }
    })
}

/// Converts one validated chunk column to an Arrow field and array.
pub fn chunk_column_to_array(column: &Column, rows: usize) -> Result<(Field, ArrayRef), DataError> {
    let name = column.name.as_str();
    Ok(match &column.values {
        ColumnValues::Float64 { values, valid } => (
            Field::new(name, DataType::Float64, true),
            Arc::new(Float64Array::new(
                ScalarBuffer::from(values.clone()),
                null_buffer(valid, rows),
            )) as ArrayRef,
        ),
        ColumnValues::Int64 { values, valid } => (
            Field::new(name, DataType::Int64, true),
            Arc::new(Int64Array::new(
                ScalarBuffer::from(values.clone()),
                null_buffer(valid, rows),
            )),
        ),
        ColumnValues::Boolean { values, valid } => (
            Field::new(name, DataType::Boolean, true),
            Arc::new(BooleanArray::new(
                values.iter().map(|v| *v != 0).collect(),
                null_buffer(valid, rows),
            )),
        ),
        ColumnValues::Text {
            data,
            offsets,
            valid,
        } => {
            let offsets = to_i32_offsets(name, offsets)?;
            (
                Field::new(name, DataType::Utf8, true),
                Arc::new(
                    StringArray::try_new(
                        offsets,
                        data.as_bytes().to_vec().into(),
                        null_buffer(valid, rows),
                    )
                    .map_err(|e| column_error(name, e.to_string()))?,
                ),
            )
        }
        ColumnValues::Tags {
            data,
            offsets,
            row_offsets,
        } => {
            let strings = StringArray::try_new(
                to_i32_offsets(name, offsets)?,
                data.as_bytes().to_vec().into(),
                None,
            )
            .map_err(|e| column_error(name, e.to_string()))?;
            let item = Arc::new(Field::new("item", DataType::Utf8, false));
            let list = ListArray::try_new(
                item.clone(),
                to_i32_offsets(name, row_offsets)?,
                Arc::new(strings),
                None,
            )
            .map_err(|e| column_error(name, e.to_string()))?;
            (Field::new(name, DataType::List(item), true), Arc::new(list))
        }
        ColumnValues::Sparse {
            dim,
            row_offsets,
            indices,
            values,
        } => {
            let fields = Fields::from(vec![
                Field::new("index", DataType::UInt32, false),
                Field::new("value", DataType::Float32, false),
            ]);
            let entries = StructArray::try_new(
                fields.clone(),
                vec![
                    Arc::new(UInt32Array::from(indices.clone())),
                    Arc::new(Float32Array::from(values.clone())),
                ],
                None,
            )
            .map_err(|e| column_error(name, e.to_string()))?;
            let item = Arc::new(Field::new("item", DataType::Struct(fields), false));
            let list = ListArray::try_new(
                item.clone(),
                to_i32_offsets(name, row_offsets)?,
                Arc::new(entries),
                None,
            )
            .map_err(|e| column_error(name, e.to_string()))?;
            let field = Field::new(name, DataType::List(item), true).with_metadata(
                std::collections::HashMap::from([(SPARSE_DIM_KEY.to_string(), dim.to_string())]),
            );
            (field, Arc::new(list))
        }
    })
}

fn to_i32_offsets(name: &str, offsets: &[u32]) -> Result<OffsetBuffer<i32>, DataError> {
    let converted: Vec<i32> = offsets
        .iter()
        .map(|&o| {
            i32::try_from(o).map_err(|_| column_error(name, "holds more than 2 GiB in one chunk"))
        })
        .collect::<Result<_, _>>()?;
    Ok(OffsetBuffer::new(ScalarBuffer::from(converted)))
}

/// Returns `batch` with the chunk's columns added (replacing columns of the
/// same name, in place).
pub fn merge_into_batch(batch: &RecordBatch, output: &Chunk) -> Result<RecordBatch, DataError> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
    for column in &output.columns {
        let (field, array) = chunk_column_to_array(column, output.rows as usize)?;
        match fields.iter().position(|f| f.name() == &column.name) {
            Some(i) => {
                fields[i] = field;
                arrays[i] = array;
            }
            None => {
                fields.push(field);
                arrays.push(array);
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| column_error("*", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_type_round_trips_through_arrow() {
        let mut chunk = Chunk::new(3);
        chunk.set(
            "f",
            ColumnValues::Float64 {
                values: vec![1.5, 0.0, -2.0],
                valid: vec![0b101],
            },
        );
        chunk.set(
            "i",
            ColumnValues::Int64 {
                values: vec![1, 2, 3],
                valid: vec![],
            },
        );
        chunk.set(
            "b",
            ColumnValues::Boolean {
                values: vec![1, 0, 1],
                valid: vec![],
            },
        );
        chunk.set(
            "t",
            ColumnValues::Text {
                data: "aébc".into(),
                offsets: vec![0, 1, 1, 5],
                valid: vec![0b101],
            },
        );
        chunk.set(
            "g",
            ColumnValues::Tags {
                data: "xyz".into(),
                offsets: vec![0, 1, 3],
                row_offsets: vec![0, 2, 2, 2],
            },
        );
        chunk.set(
            "s",
            ColumnValues::Sparse {
                dim: 8,
                row_offsets: vec![0, 1, 1, 3],
                indices: vec![7, 0, 2],
                values: vec![1.0, 0.5, 0.25],
            },
        );
        chunk.validate().unwrap();
        let empty = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(3)),
        )
        .unwrap();
        let batch = merge_into_batch(&empty, &chunk).unwrap();
        let columns: Vec<(String, ColumnType)> = chunk
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.values.column_type()))
            .collect();
        assert_eq!(batch_to_chunk(&batch, &columns).unwrap(), chunk);
    }

    #[test]
    fn integers_widen_to_float_but_text_does_not_become_numbers() {
        let batch = RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("s", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
        ])
        .unwrap();
        let chunk = batch_to_chunk(&batch, &[("n".into(), ColumnType::Float64)]).unwrap();
        assert_eq!(
            chunk.columns[0].values,
            ColumnValues::Float64 {
                values: vec![1.0, 2.0],
                valid: vec![]
            }
        );
        let err = batch_to_chunk(&batch, &[("s".into(), ColumnType::Float64)]).unwrap_err();
        assert!(err.to_string().contains("column `s`"), "{err}");
        let err = batch_to_chunk(&batch, &[("nope".into(), ColumnType::Text)]).unwrap_err();
        assert!(
            err.to_string().contains("nope") && err.to_string().contains("n, s"),
            "{err}"
        );
    }
}
