//! `sluice plugin inspect` and `sluice plugin run`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use sluice_core::contract::{ParamType, ParamValue, StepInfo};
use sluice_core::text;
use sluice_core::units::format_size;
use sluice_data::{DataError, TableWriter};
use sluice_pipeline::{Driven, Driver, Pass, PluginRun, drive_plugin};
use sluice_runtime::policy::Policy;
use sluice_runtime::{Plugin, Runtime, SessionStats};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Show a plugin's digest, contract version, description, imports and
    /// the policy entry it would need.
    Inspect {
        /// A .wasm file, or the name of an embedded first-party plugin.
        plugin: String,
        /// Also show the effective grant under this policy.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run one plugin over a table file, chunk by chunk.
    Run {
        /// A .wasm file, or the name of an embedded first-party plugin.
        plugin: String,
        /// Input table (.csv, .parquet, .jsonl).
        #[arg(long)]
        input: PathBuf,
        /// Policy granting the plugin its columns and limits (default: nothing).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Output table (.csv, .parquet, .jsonl); without it the first rows are printed.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Step parameter, `name=value` (repeatable); lists are comma-separated.
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Training data for a fitted step's fit pass (default: --input).
        #[arg(long)]
        fit_input: Option<PathBuf>,
        /// Rows per chunk.
        #[arg(long, default_value_t = 4096)]
        chunk_rows: usize,
        /// Rows to print when --out is not given.
        #[arg(long, default_value_t = 10)]
        head: usize,
        /// The policy entry name to grant by (default: the embedded name or file stem).
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(command: PluginCommand, home: &Path) -> Result<()> {
    let runtime = Runtime::new(crate::runtime_config(home)?)?;
    match command {
        PluginCommand::Inspect {
            plugin,
            policy,
            json,
        } => inspect(&runtime, &plugin, policy.as_deref(), json),
        PluginCommand::Run {
            plugin,
            input,
            policy,
            out,
            params,
            fit_input,
            chunk_rows,
            head,
            name,
        } => {
            if chunk_rows == 0 {
                bail!("--chunk-rows must be at least 1");
            }
            let policy = load_policy(policy.as_deref())?;
            let plugin = load(&runtime, &plugin, name.as_deref(), &policy)?;
            run_plugin(
                &plugin,
                &input,
                out.as_deref(),
                &params,
                fit_input.as_deref(),
                chunk_rows,
                head,
            )
        }
    }
}

fn load_policy(path: Option<&Path>) -> Result<Policy> {
    Ok(match path {
        Some(path) => Policy::load(path)?,
        None => Policy::deny_all(),
    })
}

/// Loads `reference`: an embedded plugin name, or a path to a .wasm file.
fn load(runtime: &Runtime, reference: &str, name: Option<&str>, policy: &Policy) -> Result<Plugin> {
    let path = Path::new(reference);
    if path.extension().is_some_and(|e| e == "wasm") || path.exists() {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| s.replace('_', "-"));
        return Ok(runtime.load_file(path, name.or(stem.as_deref()), policy)?);
    }
    match sluice_stdlib::get(reference) {
        Some(embedded) => {
            Ok(runtime.load(embedded.bytes, Some(name.unwrap_or(embedded.name)), policy)?)
        }
        None => {
            let known: Vec<&str> = sluice_stdlib::PLUGINS.iter().map(|p| p.name).collect();
            bail!(
                "`{reference}` is neither a .wasm file nor an embedded plugin (embedded: {})",
                known.join(", ")
            )
        }
    }
}

/// Parses `name=value` using the type the step declares for `name`.
fn parse_params(info: &StepInfo, given: &[String]) -> Result<Vec<(String, ParamValue)>> {
    given
        .iter()
        .map(|pair| {
            let (name, raw) = pair
                .split_once('=')
                .with_context(|| format!("--param `{pair}`: expected NAME=VALUE"))?;
            let spec = info
                .params
                .iter()
                .find(|p| p.name == name)
                .with_context(|| {
                    let known: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
                    format!(
                        "--param `{name}`: `{}` has no such param (it takes: {})",
                        info.name,
                        known.join(", ")
                    )
                })?;
            let bad = || format!("--param `{name}`: `{raw}` is not a {}", spec.ty);
            let value = match spec.ty {
                ParamType::Boolean => ParamValue::Boolean(raw.parse().with_context(bad)?),
                ParamType::Int64 => ParamValue::Int64(raw.parse().with_context(bad)?),
                ParamType::Float64 => ParamValue::Float64(raw.parse().with_context(bad)?),
                ParamType::Text => ParamValue::Text(raw.to_string()),
                ParamType::TextList => ParamValue::TextList(
                    raw.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                ),
                ParamType::Float64List => ParamValue::Float64List(
                    raw.split(',')
                        .map(|s| s.trim().parse::<f64>())
                        .collect::<Result<_, _>>()
                        .with_context(bad)?,
                ),
            };
            Ok((name.to_string(), value))
        })
        .collect()
}

/// `println!` for text that quotes the plugin's `describe()`: its
/// control characters escaped, so a name or doc cannot drive the terminal.
macro_rules! shown {
    ($($arg:tt)*) => {
        println!("{}", text::escaped(&format!($($arg)*)))
    };
}

fn inspect(runtime: &Runtime, reference: &str, policy: Option<&Path>, json: bool) -> Result<()> {
    let policy = load_policy(policy)?;
    let plugin = load(runtime, reference, None, &policy)?;
    let info = plugin.info();
    let effective = plugin.effective_grant(&[]);
    if json {
        let value = serde_json::json!({
            "digest": plugin.digest(),
            "contract": plugin.contract(),
            "describe": info,
            "imports": plugin.imports(),
            "grant": plugin.grant(),
            "effective_grant": effective.as_ref().ok().map(|(_, e)| e),
            "effective_grant_error": effective.as_ref().err().map(|e| e.to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    shown!(
        "plugin     {} {} ({})",
        plugin.display_name(),
        info.version,
        info.kind
    );
    shown!("digest     {}", plugin.digest());
    shown!("contract   {}", plugin.contract());
    shown!("summary    {}", info.summary);
    shown!(
        "fitted     {}",
        if info.fits {
            "yes: fit pass, then process with state bytes"
        } else {
            "no"
        }
    );
    shown!("\nparams");
    for p in &info.params {
        let default = p
            .default
            .as_ref()
            .map(|d| format!("= {d}"))
            .unwrap_or_else(|| "(required)".into());
        shown!(
            "  {:<16} {:<12} {:<20} {}",
            p.name,
            p.ty.to_string(),
            default,
            p.doc
        );
    }
    for (title, specs) in [("reads", &info.reads), ("writes", &info.writes)] {
        shown!("\n{title}");
        for c in specs {
            let from = c
                .name_param
                .as_ref()
                .map(|p| format!("(param `{p}`)"))
                .unwrap_or_default();
            let optional = if c.optional { " optional" } else { "" };
            shown!(
                "  {:<16} {:<8}{optional} {:<18} {}",
                c.name,
                c.ty.to_string(),
                from,
                c.doc
            );
        }
    }
    shown!("\nimports");
    for import in plugin.imports() {
        shown!("  {import}");
    }
    let params = info.resolve_params(&[]).ok().unwrap_or_default();
    let names = |specs| {
        StepInfo::resolve_columns(specs, &params)
            .into_iter()
            .map(|(n, _)| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    shown!("\nto run with default params, a policy needs:");
    shown!(
        "  [plugin.{}]\n  digest = \"{}\"\n  read = [{}]\n  write = [{}]",
        plugin.name(),
        plugin.digest(),
        names(&info.reads),
        names(&info.writes)
    );
    match effective {
        Ok((_, e)) => shown!(
            "\neffective grant under {}: read {:?}, write {:?}, cpu {:?}, memory {}",
            policy.path().display(),
            e.reads.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            e.writes.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            e.grant.limits.cpu,
            format_size(e.grant.limits.memory)
        ),
        Err(e) => shown!("\nunder {}: {e}", policy.path().display()),
    }
    Ok(())
}

fn progress(label: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} {human_pos} rows ({per_sec}) {elapsed}")
            .unwrap(),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// `sluice plugin run`'s side of the shared drive: progress bars, and the
/// output file or the first `head` rows to print.
struct CliDriver<'a> {
    plugin: &'a Plugin,
    fit_bar: Option<ProgressBar>,
    bar: Option<ProgressBar>,
    writer: Option<TableWriter>,
    head: usize,
    printed: Vec<RecordBatch>,
    printed_rows: usize,
}

impl Driver for CliDriver<'_> {
    type Error = anyhow::Error;

    fn unreadable(&self, table: &Path, error: DataError) -> anyhow::Error {
        anyhow::Error::new(error).context(table.display().to_string())
    }

    fn rows(&mut self, pass: Pass, rows: u64) {
        let name = self.plugin.name();
        let bar = match pass {
            Pass::Fit => self
                .fit_bar
                .get_or_insert_with(|| progress(&format!("fit {name}"))),
            Pass::Process => self.bar.get_or_insert_with(|| progress(name)),
        };
        bar.inc(rows);
    }

    fn fitted(&mut self, state: &[u8], stats: &SessionStats) -> Result<()> {
        if let Some(bar) = self.fit_bar.take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "fitted {}: state {} from {} rows",
            self.plugin.name(),
            format_size(state.len() as u64),
            stats.rows_in
        );
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer.write(batch)?,
            None if self.printed_rows < self.head => {
                let take = (self.head - self.printed_rows).min(batch.num_rows());
                self.printed.push(batch.slice(0, take));
                self.printed_rows += take;
            }
            None => {}
        }
        Ok(())
    }
}

fn run_plugin(
    plugin: &Plugin,
    input: &Path,
    out: Option<&Path>,
    given: &[String],
    fit_input: Option<&Path>,
    chunk_rows: usize,
    head: usize,
) -> Result<()> {
    let started = Instant::now();
    let given = parse_params(plugin.info(), given)?;
    let (params, effective) = plugin.effective_grant(&given)?;
    let mut driver = CliDriver {
        plugin,
        fit_bar: None,
        bar: None,
        writer: out.map(TableWriter::create).transpose()?,
        head,
        printed: Vec::new(),
        printed_rows: 0,
    };
    let run = PluginRun {
        plugin,
        params: &params,
        effective: &effective,
        chunk_rows,
        stop: Default::default(),
        fit_rows: None,
    };
    let drive = drive_plugin(&run, input, fit_input.unwrap_or(input), &mut driver);
    if let Some(bar) = driver.bar.take() {
        bar.finish_and_clear();
    }
    // what the plugin logged helps most when it failed
    let driven = drive.driven;
    print_guest_output(&driven);
    drive.result?;
    if let Some(writer) = driver.writer.take() {
        writer.finish()?;
    }
    if out.is_none() {
        println!(
            "{}",
            arrow::util::pretty::pretty_format_batches(&driver.printed)?
        );
    }
    print_metrics(&driven);
    let total = &driven.stats;
    eprintln!(
        "{}: {} rows in {} chunks -> {} | wall {:.3}s, in plugin {:.3}s, {} epoch ticks, peak plugin memory {}, compile {:.1} ms{}",
        plugin.name(),
        total.rows_out,
        driven.chunks,
        out.map(|p| p.display().to_string())
            .unwrap_or_else(|| "stdout".into()),
        started.elapsed().as_secs_f64(),
        total.guest_time.as_secs_f64(),
        total.epochs,
        format_size(total.peak_memory),
        plugin.compile_time().as_secs_f64() * 1e3,
        if plugin.cache_hit() { " (cached)" } else { "" },
    );
    Ok(())
}

/// What the plugin logged, measured and printed, on stderr.
fn print_guest_output(driven: &Driven) {
    let output = &driven.output;
    for (name, value) in &output.metrics {
        eprintln!("plugin metric {name} = {value}");
    }
    for line in &output.log {
        eprintln!("plugin log [{}] {}", line.level, line.message);
    }
    for (stream, captured) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        for line in captured.lines() {
            eprintln!(
                "plugin {stream} | {}",
                text::clean_line(line, text::MESSAGE_LIMIT)
            );
        }
    }
    if output.dropped.any() {
        eprintln!("warning: {}", output.dropped);
    }
}

/// The plugin's `finish` metrics on stdout.
fn print_metrics(driven: &Driven) {
    for metric in &driven.metrics {
        let labels: Vec<String> = metric
            .labels
            .iter()
            .map(|(k, v)| format!("{}={}", text::clean_line(k, 256), text::clean_line(v, 256)))
            .collect();
        println!(
            "metric {}{} = {}",
            text::clean_line(&metric.name, text::MESSAGE_LIMIT),
            if labels.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", labels.join(","))
            },
            metric.value
        );
    }
}
