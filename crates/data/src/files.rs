//! Reading and writing tables in batches: CSV, Parquet and JSON Lines.
//! Writers go through a temporary file renamed into place on `finish`, so
//! a failed run never leaves a half-written output behind.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;

use std::collections::BTreeMap;

use sluice_core::ColumnType;

use super::DataError;

/// Rows read to infer CSV / JSON column types.
const INFER_ROWS: usize = 10_000;

/// Bounds of one Parquet row group. The writer holds a whole row group in
/// memory before it is written out; parquet's default of 1,048,576 rows made
/// a step's memory grow with the table (281 MB RSS on a 74 MB CSV), so a
/// group ends at whichever bound comes first.
pub const ROW_GROUP_MAX_ROWS: usize = 65_536;
pub const ROW_GROUP_MAX_BYTES: usize = 16 << 20;

/// Properties of every Parquet file sluice writes (artifacts, outputs, SQL
/// sources): row groups bounded by rows and bytes.
pub fn parquet_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_MAX_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_MAX_BYTES))
        .build()
}

/// A Parquet writer over `sink` with [`parquet_properties`].
pub fn parquet_writer<W: std::io::Write + Send>(
    sink: W,
    schema: SchemaRef,
) -> parquet::errors::Result<ArrowWriter<W>> {
    ArrowWriter::try_new(sink, schema, Some(parquet_properties()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    JsonLines,
}

impl Format {
    pub fn from_path(path: &Path) -> Result<Self, DataError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(Format::Csv),
            Some("parquet") | Some("pq") => Ok(Format::Parquet),
            Some("jsonl") | Some("ndjson") => Ok(Format::JsonLines),
            _ => Err(DataError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Streams a table file as record batches of at most `batch_size` rows.
pub struct TableReader {
    path: PathBuf,
    schema: SchemaRef,
    inner: Box<dyn Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>> + Send>,
}

impl TableReader {
    pub fn open(path: &Path, batch_size: usize) -> Result<Self, DataError> {
        Self::open_with_types(path, batch_size, &BTreeMap::new())
    }

    /// Opens a table; for CSV, `types` overrides the inferred type of the
    /// named columns (a value that does not parse is an error naming the
    /// line, never a silent null).
    pub fn open_with_types(
        path: &Path,
        batch_size: usize,
        types: &BTreeMap<String, ColumnType>,
    ) -> Result<Self, DataError> {
        let read_error = |message: String| DataError::Read {
            path: path.to_path_buf(),
            message,
        };
        let mut file = File::open(path).map_err(|e| read_error(e.to_string()))?;
        let empty = file
            .metadata()
            .map_err(|e| read_error(e.to_string()))?
            .len()
            == 0;
        if empty {
            // arrow would report a missing column or a bad footer instead
            return Err(read_error(
                "the file is empty (a CSV needs at least a header line; JSON Lines and Parquet a table)"
                    .into(),
            ));
        }
        let (schema, inner): (SchemaRef, Box<dyn Iterator<Item = _> + Send>) =
            match Format::from_path(path)? {
                Format::Csv => {
                    let format = arrow::csv::reader::Format::default().with_header(true);
                    let (schema, _) = format
                        .infer_schema(BufReader::new(&mut file), Some(INFER_ROWS))
                        .map_err(|e| read_error(e.to_string()))?;
                    file.rewind().map_err(|e| read_error(e.to_string()))?;
                    let mut fields: Vec<Field> =
                        schema.fields().iter().map(|f| f.as_ref().clone()).collect();
                    for (column, ty) in types {
                        let field = fields.iter_mut().find(|f| f.name() == column).ok_or_else(|| {
                            read_error(format!("type override for column `{column}`, which the file does not have"))
                        })?;
                        if matches!(ty, ColumnType::Sparse | ColumnType::Tags) {
                            return Err(read_error(format!(
                                "column `{column}`: CSV cannot hold {ty} values"
                            )));
                        }
                        *field = Field::new(column, super::data_type(*ty), true);
                    }
                    let schema = Arc::new(Schema::new(fields));
                    let reader = arrow::csv::ReaderBuilder::new(schema.clone())
                        .with_format(format)
                        .with_batch_size(batch_size)
                        .build(BufReader::new(file))
                        .map_err(|e| read_error(e.to_string()))?;
                    (schema, Box::new(reader))
                }
                Format::JsonLines | Format::Parquet if !types.is_empty() => {
                    return Err(read_error(
                        "type overrides apply to CSV files only (JSON Lines and Parquet carry types)".into(),
                    ));
                }
                Format::JsonLines => {
                    let (schema, _) = arrow::json::reader::infer_json_schema_from_seekable(
                        BufReader::new(&mut file),
                        Some(INFER_ROWS),
                    )
                    .map_err(|e| read_error(e.to_string()))?;
                    file.rewind().map_err(|e| read_error(e.to_string()))?;
                    let schema = Arc::new(schema);
                    let reader = arrow::json::ReaderBuilder::new(schema.clone())
                        .with_batch_size(batch_size)
                        .build(BufReader::new(file))
                        .map_err(|e| read_error(e.to_string()))?;
                    (schema, Box::new(reader))
                }
                Format::Parquet => {
                    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                        .map_err(|e| read_error(e.to_string()))?;
                    let schema = builder.schema().clone();
                    let reader = builder
                        .with_batch_size(batch_size)
                        .build()
                        .map_err(|e| read_error(e.to_string()))?;
                    (schema, Box::new(reader))
                }
            };
        Ok(TableReader {
            path: path.to_path_buf(),
            schema,
            inner,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The batches, or one empty batch with the table's schema when it has
    /// no rows: whoever writes what it reads then writes a valid empty table
    /// with its columns, never a 0-byte file that no reader accepts.
    pub fn at_least_one_batch(self) -> impl Iterator<Item = Result<RecordBatch, DataError>> {
        let mut empty = Some(RecordBatch::new_empty(self.schema.clone()));
        let mut reader = self;
        std::iter::from_fn(move || match reader.next() {
            Some(batch) => {
                empty = None;
                Some(batch)
            }
            None => empty.take().map(Ok),
        })
    }
}

impl Iterator for TableReader {
    type Item = Result<RecordBatch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|r| {
            r.map_err(|e| DataError::Read {
                path: self.path.clone(),
                message: name_the_column(&e.to_string(), &self.schema),
            })
        })
    }
}

/// arrow's CSV parse errors name a column by position, count lines from 0
/// (the header), and append the whole row: name the column instead, count
/// lines from 1 as editors do (as arrow's other CSV errors already do), and
/// drop the row (it can be megabytes).
fn name_the_column(message: &str, schema: &Schema) -> String {
    let message = match message.find(". Row data: ") {
        Some(end) => &message[..end],
        None => message,
    };
    let Some(start) = message.find("for column ") else {
        return message.to_string();
    };
    let digits_at = start + "for column ".len();
    let digits: String = message[digits_at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let Some(field) = digits
        .parse::<usize>()
        .ok()
        .and_then(|i| schema.fields().get(i))
    else {
        return message.to_string();
    };
    let rest = &message[digits_at + digits.len()..];
    let rest = match rest
        .strip_prefix(" at line ")
        .and_then(|line| line.parse::<usize>().ok())
    {
        Some(line) => format!(" at line {}", line + 1),
        None => rest.to_string(),
    };
    format!("{}for column `{}`{rest}", &message[..start], field.name())
}

enum Sink {
    Csv(arrow::csv::Writer<File>),
    JsonLines(arrow::json::LineDelimitedWriter<File>),
    Parquet(ArrowWriter<File>),
}

/// Writes batches to a file, atomically on `finish`.
pub struct TableWriter {
    path: PathBuf,
    temp: Option<tempfile::TempPath>,
    sink: Option<Sink>,
    format: Format,
}

impl TableWriter {
    pub fn create(path: &Path) -> Result<Self, DataError> {
        let format = Format::from_path(path)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| DataError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let temp = tempfile::Builder::new()
            .prefix(".sluice-partial-")
            .tempfile_in(&dir)
            .map_err(|e| DataError::Write {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
            .into_temp_path();
        Ok(TableWriter {
            path: path.to_path_buf(),
            temp: Some(temp),
            sink: None,
            format,
        })
    }

    fn write_error(&self, e: impl ToString) -> DataError {
        DataError::Write {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        let batch = if self.format == Format::Csv {
            flatten_for_csv(batch).map_err(|e| self.write_error(e))?
        } else {
            batch.clone()
        };
        if self.sink.is_none() {
            let temp = self.temp.as_ref().expect("writer already finished");
            // The temp file is new and empty: open it without O_TRUNC, which
            // on ext4 (auto_da_alloc) would force a writeback at close.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(temp)
                .map_err(|e| self.write_error(e))?;
            self.sink = Some(match self.format {
                Format::Csv => Sink::Csv(
                    arrow::csv::WriterBuilder::new()
                        .with_header(true)
                        .build(file),
                ),
                Format::JsonLines => Sink::JsonLines(arrow::json::LineDelimitedWriter::new(file)),
                Format::Parquet => Sink::Parquet(
                    parquet_writer(file, batch.schema()).map_err(|e| self.write_error(e))?,
                ),
            });
        }
        let result = match self.sink.as_mut().unwrap() {
            Sink::Csv(w) => w.write(&batch).map_err(|e| e.to_string()),
            Sink::JsonLines(w) => w.write(&batch).map_err(|e| e.to_string()),
            Sink::Parquet(w) => w.write(&batch).map_err(|e| e.to_string()),
        };
        result.map_err(|e| self.write_error(e))
    }

    /// Flushes and moves the file into place. Dropping a writer without
    /// calling this deletes the partial file.
    pub fn finish(mut self) -> Result<(), DataError> {
        match self.sink.take() {
            Some(Sink::Csv(w)) => drop(w.into_inner()),
            Some(Sink::JsonLines(mut w)) => w.finish().map_err(|e| self.write_error(e))?,
            Some(Sink::Parquet(w)) => {
                w.close().map_err(|e| self.write_error(e))?;
            }
            // nothing written: the empty temp file becomes the output
            None => {}
        }
        let temp = self.temp.take().unwrap();
        temp.persist(&self.path).map_err(|e| self.write_error(e))?;
        Ok(())
    }
}

/// CSV holds no nested values: tags become `;`-joined text; sparse vectors
/// cannot be written as CSV.
fn flatten_for_csv(batch: &RecordBatch) -> Result<RecordBatch, String> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::List(_)))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::List(item) if item.data_type() == &DataType::Utf8 => {
                let list = array.as_list::<i32>();
                let mut out = StringBuilder::new();
                for row in 0..list.len() {
                    if list.is_null(row) {
                        out.append_null();
                        continue;
                    }
                    let tags = list.value(row);
                    let tags = tags.as_string::<i32>();
                    let joined: Vec<&str> = (0..tags.len()).map(|j| tags.value(j)).collect();
                    out.append_value(joined.join(";"));
                }
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                arrays.push(Arc::new(out.finish()));
            }
            DataType::List(_) => {
                return Err(format!(
                    "column `{}` holds sparse vectors, which CSV cannot; write .parquet instead",
                    field.name()
                ));
            }
            _ => {
                fields.push(field.as_ref().clone());
                arrays.push(array.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_csv_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.csv");
        std::fs::write(&path, "a,b\n1,2\n3,4,5\n").unwrap();
        let reader = TableReader::open(&path, 1024);
        let err = match reader {
            Err(e) => e.to_string(),
            Ok(mut r) => r.find_map(|b| b.err()).expect("an error").to_string(),
        };
        assert!(err.contains("bad.csv") && err.contains("line"), "{err}");
    }

    #[test]
    fn empty_file_error_says_the_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["empty.csv", "empty.jsonl", "empty.parquet"] {
            let path = dir.path().join(name);
            std::fs::write(&path, "").unwrap();
            let mut types = BTreeMap::new();
            if name.ends_with(".csv") {
                types.insert("label".to_string(), ColumnType::Int64);
            }
            let err = TableReader::open_with_types(&path, 16, &types)
                .err()
                .expect("an empty file is refused")
                .to_string();
            assert!(
                err.contains(name) && err.contains("the file is empty"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_cell_that_is_not_its_declared_type_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        std::fs::write(&path, "text,label\nhi,1\nho,2\nhum,spam\n").unwrap();
        let types = BTreeMap::from([("label".to_string(), ColumnType::Int64)]);
        let err = TableReader::open_with_types(&path, 1024, &types)
            .unwrap()
            .find_map(|b| b.err())
            .expect("the bad cell fails")
            .to_string();
        assert!(
            err.contains("labels.csv")
                && err.contains("'spam'")
                && err.contains("column `label`")
                && err.contains("line 4")
                && !err.contains("Row data"),
            "{err}"
        );
    }

    #[test]
    fn a_table_without_rows_is_written_as_a_valid_empty_table() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("header_only.csv");
        std::fs::write(&source, "text,label\n").unwrap();
        for out in ["empty.parquet", "empty.csv", "empty.jsonl"] {
            let out = dir.path().join(out);
            let mut writer = TableWriter::create(&out).unwrap();
            for batch in TableReader::open(&source, 16).unwrap().at_least_one_batch() {
                writer.write(&batch.unwrap()).unwrap();
            }
            writer.finish().unwrap();
            if out.extension().unwrap() == "jsonl" {
                continue; // JSON Lines has no header: an empty file is its empty table
            }
            let reader = TableReader::open(&out, 16).unwrap();
            let names: Vec<String> = reader
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(names, ["text", "label"], "{}", out.display());
            assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 0);
        }
    }

    #[test]
    fn parquet_row_groups_are_bounded_by_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.parquet");
        let rows = ROW_GROUP_MAX_ROWS * 2 + 10;
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(arrow::array::Int64Array::from_iter_values(0..rows as i64)) as ArrayRef,
        )])
        .unwrap();
        let mut writer = TableWriter::create(&path).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        let file = File::open(&path).unwrap();
        let metadata = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .metadata()
            .clone();
        assert_eq!(metadata.num_row_groups(), 3);
        assert!(
            metadata
                .row_groups()
                .iter()
                .all(|g| g.num_rows() as usize <= ROW_GROUP_MAX_ROWS)
        );
    }

    #[test]
    fn failed_writer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(arrow::array::Int64Array::from(vec![1])) as ArrayRef,
        )])
        .unwrap();
        {
            let mut writer = TableWriter::create(&path).unwrap();
            writer.write(&batch).unwrap();
            // dropped without finish: a failed run
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut writer = TableWriter::create(&path).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x\n1\n");
    }
}
