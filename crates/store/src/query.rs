//! SQL sources: a pipeline may read `query = "SELECT ..."` from the store's
//! own database. Rows become Arrow batches written to a Parquet file.
//! Supported column types: integers, floats, text, booleans (cast anything
//! else in SQL). Rows are streamed a batch at a time, never fetched whole;
//! each column's type is fixed by the first batch (a later value of another
//! type is an error naming the column and row: cast it in SQL).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema};
use futures_util::TryStreamExt as _;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::error::OpError;
use super::{Backend, Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

fn sqlite_value(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<Value, OpError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let ty = raw.type_info().name().to_ascii_uppercase();
    Ok(match ty.as_str() {
        "INTEGER" | "INT" | "BIGINT" => Value::Int(row.try_get(i)?),
        "REAL" | "FLOAT" | "DOUBLE" | "NUMERIC" => Value::Float(row.try_get(i)?),
        "BOOLEAN" => Value::Bool(row.try_get(i)?),
        "TEXT" | "VARCHAR" => Value::Text(row.try_get(i)?),
        other => {
            return Err(OpError::Invalid(format!(
                "column `{}` holds {other} values; cast it in SQL",
                row.column(i).name()
            )));
        }
    })
}

fn pg_value(row: &sqlx::postgres::PgRow, i: usize) -> Result<Value, OpError> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let ty = row.column(i).type_info().name().to_ascii_uppercase();
    Ok(match ty.as_str() {
        "INT2" => Value::Int(i64::from(row.try_get::<i16, _>(i)?)),
        "INT4" => Value::Int(i64::from(row.try_get::<i32, _>(i)?)),
        "INT8" => Value::Int(row.try_get(i)?),
        "FLOAT4" => Value::Float(f64::from(row.try_get::<f32, _>(i)?)),
        "FLOAT8" => Value::Float(row.try_get(i)?),
        "BOOL" => Value::Bool(row.try_get(i)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Value::Text(row.try_get(i)?),
        other => {
            return Err(OpError::Invalid(format!(
                "column `{}` has type {other}; cast it to bigint, double precision, text or boolean in SQL",
                row.column(i).name()
            )));
        }
    })
}

/// The Arrow type for a column: from its first non-null value; integers
/// mixed with floats become float64.
fn column_type(name: &str, values: impl Iterator<Item = Value>) -> Result<DataType, OpError> {
    let mut ty: Option<DataType> = None;
    for value in values {
        let this = match value {
            Value::Null => continue,
            Value::Int(_) => DataType::Int64,
            Value::Float(_) => DataType::Float64,
            Value::Text(_) => DataType::Utf8,
            Value::Bool(_) => DataType::Boolean,
        };
        ty = Some(match (ty, this) {
            (None, t) => t,
            (Some(a), b) if a == b => a,
            (Some(DataType::Int64), DataType::Float64)
            | (Some(DataType::Float64), DataType::Int64) => DataType::Float64,
            (Some(a), b) => {
                return Err(OpError::Invalid(format!(
                    "column `{name}` mixes {a} and {b} values"
                )));
            }
        });
    }
    Ok(ty.unwrap_or(DataType::Utf8))
}

fn build_array(ty: &DataType, values: &[&Value]) -> ArrayRef {
    match ty {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(if let Value::Int(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(match v {
                    Value::Float(x) => Some(*x),
                    Value::Int(x) => Some(*x as f64),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(if let Value::Bool(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        _ => {
            let mut b = StringBuilder::new();
            values.iter().for_each(|v| {
                b.append_option(if let Value::Text(x) = v {
                    Some(x.as_str())
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
    }
}

/// Rows arriving from the database, written to Parquet a batch at a time:
/// column types are fixed from the first batch, so memory holds one batch,
/// whatever the size of the result.
struct QuerySink {
    file: Option<std::fs::File>,
    batch_rows: usize,
    names: Vec<String>,
    pending: Vec<Vec<Value>>,
    /// Rows written before the pending ones (for error messages).
    written: usize,
    schema: Option<Arc<Schema>>,
    writer: Option<parquet::arrow::ArrowWriter<std::fs::File>>,
}

impl QuerySink {
    fn push(
        &mut self,
        names: impl FnOnce() -> Vec<String>,
        row: Vec<Value>,
    ) -> Result<(), OpError> {
        if self.pending.is_empty() && self.written == 0 {
            self.names = names();
        }
        self.pending.push(row);
        if self.pending.len() >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OpError> {
        let rows = std::mem::take(&mut self.pending);
        if self.schema.is_none() {
            let types = (0..self.names.len())
                .map(|i| column_type(&self.names[i], rows.iter().map(|r| r[i].clone())))
                .collect::<Result<Vec<_>, _>>()?;
            let schema = Arc::new(Schema::new(
                self.names
                    .iter()
                    .zip(types)
                    .map(|(n, t)| Field::new(n, t, true))
                    .collect::<Vec<_>>(),
            ));
            let file = self.file.take().expect("one writer per sink");
            self.writer = Some(
                sluice_data::parquet_writer(file, schema.clone())
                    .map_err(|e| OpError::Invalid(e.to_string()))?,
            );
            self.schema = Some(schema);
        }
        let schema = self.schema.clone().expect("set above");
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.names.len());
        for (i, field) in schema.fields().iter().enumerate() {
            for (at, row) in rows.iter().enumerate() {
                if !fits(field.data_type(), &row[i]) {
                    return Err(OpError::Invalid(format!(
                        "column `{}`: row {} holds {:?}, but the first {} rows made the column {}; cast it in SQL",
                        field.name(),
                        self.written + at + 1,
                        row[i],
                        self.batch_rows,
                        field.data_type()
                    )));
                }
            }
            arrays.push(build_array(
                field.data_type(),
                &rows.iter().map(|r| &r[i]).collect::<Vec<_>>(),
            ));
        }
        let batch =
            RecordBatch::try_new(schema, arrays).map_err(|e| OpError::Invalid(e.to_string()))?;
        self.writer
            .as_mut()
            .expect("created above")
            .write(&batch)
            .map_err(|e| OpError::Invalid(e.to_string()))?;
        self.written += rows.len();
        Ok(())
    }

    fn finish(mut self) -> Result<(), OpError> {
        if !self.pending.is_empty() || self.schema.is_none() {
            self.flush()?;
        }
        self.writer
            .take()
            .expect("flushed above")
            .close()
            .map_err(|e| OpError::Invalid(e.to_string()))?;
        Ok(())
    }
}

fn column_names<C: Column>(columns: &[C]) -> Vec<String> {
    columns.iter().map(|c| c.name().to_string()).collect()
}

/// Whether `value` can be stored in a column of type `ty` without loss.
fn fits(ty: &DataType, value: &Value) -> bool {
    matches!(
        (ty, value),
        (_, Value::Null)
            | (DataType::Int64, Value::Int(_))
            | (DataType::Float64, Value::Float(_) | Value::Int(_))
            | (DataType::Boolean, Value::Bool(_))
            | (DataType::Utf8, Value::Text(_))
    )
}

impl Store {
    /// Runs `sql` and streams the rows to a temporary Parquet file in
    /// `artifacts` (named as every artifact temporary, so a sweep can tell
    /// a live writer's), in batches of `batch_rows` (memory holds one
    /// batch); returns the file's path. Column types come from the first
    /// batch.
    pub async fn query_to_parquet(
        &self,
        sql: &str,
        artifacts: &sluice_data::blobs::ArtifactDir,
        batch_rows: usize,
    ) -> Result<PathBuf, StoreError> {
        let io_error = |e: String| StoreError::Invalid {
            op: "query",
            url: self.url_for_display(),
            reason: e,
        };
        let (file, path) = artifacts
            .temp_file()
            .map_err(|e| io_error(e.to_string()))?
            .into_parts();
        // removed if the query fails; kept (and adopted by the caller) if not
        let mut sink = QuerySink {
            file: Some(file),
            batch_rows: batch_rows.max(1),
            names: Vec::new(),
            pending: Vec::new(),
            written: 0,
            schema: None,
            writer: None,
        };
        self.op("query", async {
            let sql = sqlx::AssertSqlSafe(sql.to_owned());
            match &self.backend {
                Backend::Sqlite(pool) => {
                    let mut rows = sqlx::query(sql).fetch(pool);
                    while let Some(row) = rows.try_next().await? {
                        let values = (0..row.len())
                            .map(|i| sqlite_value(&row, i))
                            .collect::<Result<Vec<_>, _>>()?;
                        sink.push(|| column_names(row.columns()), values)?;
                    }
                }
                Backend::Postgres(pool) => {
                    let mut rows = sqlx::query(sql).fetch(pool);
                    while let Some(row) = rows.try_next().await? {
                        let values = (0..row.len())
                            .map(|i| pg_value(&row, i))
                            .collect::<Result<Vec<_>, _>>()?;
                        sink.push(|| column_names(row.columns()), values)?;
                    }
                }
            }
            sink.finish()
        })
        .await?;
        path.keep().map_err(|e| io_error(e.to_string()))
    }
}
