//! SQL sources: a pipeline may read `query = "SELECT ..."` from the store's
//! own database. Rows become Arrow batches written to a Parquet file.
//! Supported column types: integers, floats, text, booleans (cast anything
//! else in SQL). The result is fetched at once: keep queries to tables that
//! fit in memory, or page them in SQL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema};
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

impl Store {
    /// Runs `sql` and writes the rows to a Parquet file in `dir` (batches of
    /// `batch_rows`); returns the file's path.
    pub async fn query_to_parquet(
        &self,
        sql: &str,
        dir: &Path,
        batch_rows: usize,
    ) -> Result<PathBuf, StoreError> {
        let (names, rows) = self
            .op("query", async {
                let sql = sqlx::AssertSqlSafe(sql.to_owned());
                Ok(match &self.backend {
                    Backend::Sqlite(pool) => {
                        let rows = sqlx::query(sql).fetch_all(pool).await?;
                        let names: Vec<String> = rows
                            .first()
                            .map(|r| r.columns().iter().map(|c| c.name().to_string()).collect())
                            .unwrap_or_default();
                        let values = rows
                            .iter()
                            .map(|r| {
                                (0..names.len())
                                    .map(|i| sqlite_value(r, i))
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        (names, values)
                    }
                    Backend::Postgres(pool) => {
                        let rows = sqlx::query(sql).fetch_all(pool).await?;
                        let names: Vec<String> = rows
                            .first()
                            .map(|r| r.columns().iter().map(|c| c.name().to_string()).collect())
                            .unwrap_or_default();
                        let values = rows
                            .iter()
                            .map(|r| {
                                (0..names.len())
                                    .map(|i| pg_value(r, i))
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        (names, values)
                    }
                })
            })
            .await?;
        let types = self
            .op("query", async {
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| column_type(n, rows.iter().map(|r| r[i].clone())))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .zip(&types)
                .map(|(n, t)| Field::new(n, t.clone(), true))
                .collect::<Vec<_>>(),
        ));
        let io_error = |e: String| StoreError::Invalid {
            op: "query",
            url: self.url_for_display(),
            reason: e,
        };
        std::fs::create_dir_all(dir).map_err(|e| io_error(e.to_string()))?;
        let path = dir.join(format!(
            ".query-{}-{}.parquet",
            std::process::id(),
            rows.len()
        ));
        let file = std::fs::File::create(&path).map_err(|e| io_error(e.to_string()))?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)
            .map_err(|e| io_error(e.to_string()))?;
        for batch_rows in rows.chunks(batch_rows.max(1)) {
            let arrays: Vec<ArrayRef> = types
                .iter()
                .enumerate()
                .map(|(i, t)| build_array(t, &batch_rows.iter().map(|r| &r[i]).collect::<Vec<_>>()))
                .collect();
            let batch = RecordBatch::try_new(schema.clone(), arrays)
                .map_err(|e| io_error(e.to_string()))?;
            writer.write(&batch).map_err(|e| io_error(e.to_string()))?;
        }
        writer.close().map_err(|e| io_error(e.to_string()))?;
        Ok(path)
    }
}
