//! The `sluice` command: argument parsing, output formatting, progress.
//! A thin layer: all work happens in the library crates; errors become
//! `anyhow` only here.

mod models;
mod pipeline;
mod plugin;
mod predict;
mod rollout;
mod runs;
mod serve;
mod token;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use sluice_core::text;
use sluice_runtime::{Compiler, Runtime, RuntimeConfig};
use sluice_store::Store;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Run ML pipelines whose steps are sandboxed WebAssembly plugins"
)]
struct Cli {
    /// Directory for sluice's state: compiled plugin cache, artifacts, the default SQLite database.
    #[arg(long, global = true, env = "SLUICE_HOME", default_value = ".sluice")]
    home: PathBuf,
    /// Database URL (postgres://… or a SQLite path); default: <home>/sluice.db.
    #[arg(long, global = true, env = "SLUICE_DATABASE_URL")]
    db: Option<String>,
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: check it, run what changed, record everything.
    Run {
        pipeline: PathBuf,
        /// Re-run every step even when its cache key is unchanged.
        #[arg(long)]
        no_cache: bool,
        /// Steps at once (default: the pipeline's `concurrency`, else the CPU count).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Hash every recorded artifact first; damaged ones are removed and recomputed.
        #[arg(long)]
        verify: bool,
        /// How long the run stays owned by this process without a heartbeat
        /// (renewed every third of it); after that, another process may
        /// cancel it as crashed.
        #[arg(long, env = "SLUICE_RUN_LEASE", default_value = "30s", value_parser = parse_lease)]
        lease: std::time::Duration,
        /// A folder, besides the pipeline file's, that its sources, outputs
        /// and granted dirs may be in (repeatable).
        #[arg(long = "allow-path", value_name = "DIR")]
        allow_paths: Vec<PathBuf>,
    },
    /// Validate a pipeline without running it; reports every error found.
    Check {
        pipeline: PathBuf,
        /// As for `run`.
        #[arg(long = "allow-path", value_name = "DIR")]
        allow_paths: Vec<PathBuf>,
    },
    /// Print a pipeline's DAG.
    Graph {
        pipeline: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: pipeline::GraphFormat,
    },
    /// Recent runs.
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One run: steps, timings, cache hits, resources, errors, artifacts.
    Show {
        run: i64,
        /// Also print what each step's plugin logged, measured and wrote to
        /// stdout / stderr.
        #[arg(long)]
        logs: bool,
    },
    /// Artifacts produced by runs.
    #[command(subcommand)]
    Artifacts(ArtifactsCommand),
    /// Remove artifact files no run, cache entry or model refers to, and
    /// temporary files of killed processes.
    Gc {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Inspect and run single plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Registered models: versions, metrics, aliases (`sluice models show NAME`).
    Models {
        /// Only this model's versions.
        name: Option<String>,
        #[command(subcommand)]
        command: Option<models::ModelsCommand>,
    },
    /// Point an alias (e.g. `production`) at a model version, if its gate passes.
    Promote {
        name: String,
        version: i64,
        #[arg(long)]
        alias: String,
    },
    /// Roll a version out next to production: to a share of users
    /// (`--canary 5`, `--ab 50`) or on mirrored traffic (`--shadow`).
    /// Running servers pick it up within a second.
    Deploy {
        name: String,
        version: i64,
        #[command(flatten)]
        mode: rollout::ModeArgs,
        /// The A/B variant's name in answers and metrics (default `b`).
        #[arg(long)]
        variant: Option<String>,
    },
    /// End the model's active deployment as rolled back, or, with none,
    /// point `production` back at the version it named before.
    Rollback {
        name: String,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "rolled back by hand")]
        reason: String,
    },
    /// People in the loop: escalated answers awaiting a decision, and
    /// recording one (the same as the server's /v1/review routes).
    #[command(subcommand)]
    Review(rollout::ReviewCommand),
    /// Deployments, newest first: mode, split, status, and why each ended.
    Deployments {
        /// Only this model's.
        name: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Score a table with a registered model: the exact plugins, params and
    /// fitted states that fed it at training, then the model; nothing is refitted.
    Predict {
        /// NAME@ALIAS or NAME@VERSION, e.g. chat-moderation@production or chat-moderation@3.
        model: String,
        /// Input table (.csv, .parquet, .jsonl) with the columns the model's first steps read.
        #[arg(long)]
        input: PathBuf,
        /// Output table (.parquet, .csv, .jsonl, by extension).
        #[arg(long)]
        out: PathBuf,
        /// Grant the plugins by this policy instead of the grants recorded at
        /// training (needed when they were granted directories).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Rows per batch through the graph.
        #[arg(long, default_value_t = 4096)]
        chunk_rows: usize,
    },
    /// Serve a registered model over HTTP: the moderation API, batch and
    /// generic predict endpoints, health, readiness and metrics (docs/SERVING.md).
    Serve {
        /// The service file: model, moderation policy, limits, fail-safe.
        #[arg(long)]
        config: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Export or import a model with the exact plugins and states feeding it.
    #[command(subcommand)]
    Bundle(models::BundleCommand),
    /// API tokens for `sluice serve` (create, list, revoke).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Write an offline HTML report of a run (metrics, ROC/PR curves, confusion, groups).
    Report {
        run: i64,
        /// Output file (default: sluice-report-RUN.html).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Internal: compile one plugin for a parent `sluice` process, which
    /// kills it at the compile time bound (component on stdin, compiled
    /// artifact on stdout).
    #[command(hide = true)]
    CompilePlugin {
        #[arg(allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ArtifactsCommand {
    /// Write a table artifact to .parquet, .csv or .jsonl.
    Export {
        /// The digest, or any unique prefix of it (with or without `sha256:`).
        digest: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Hash every recorded artifact; damaged files are removed (and recomputed by the next run).
    Verify,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and check its checkpoints; names every bad row.
    Verify {
        /// Fail unless at least one checkpoint is recorded (so a tail cut
        /// back to before the first checkpoint cannot pass).
        #[arg(long)]
        since_checkpoint: bool,
        /// A head kept outside the database (`HASH@ID`, as `audit
        /// checkpoint` prints): that row must still exist with that hash.
        #[arg(long, value_name = "HASH@ID")]
        expect: Vec<sluice_store::AuditAnchor>,
    },
    /// Record the chain's head (row id and hash) and print it to keep elsewhere.
    Checkpoint,
    /// The newest entries.
    Log {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// A run lease: a duration of at least a second, so that the heartbeats (a
/// third of it apart) are not outrun by ordinary database latency.
fn parse_lease(text: &str) -> Result<std::time::Duration, String> {
    let lease = sluice_core::units::parse_duration(text)?;
    if lease < std::time::Duration::from_secs(1) {
        return Err(format!("a run lease must be at least 1s, got `{text}`"));
    }
    Ok(lease)
}

/// What commands share: where state lives and how to reach it.
pub struct Context {
    pub home: PathBuf,
    pub db: Option<String>,
}

/// The sandbox as every command sets it up: compiled plugins cached under
/// `home`, compiles in a child process (this binary's `compile-plugin`)
/// that is killed when it outlives its bound.
pub fn runtime_config(home: &Path) -> anyhow::Result<RuntimeConfig> {
    let program = std::env::current_exe().map_err(|e| {
        anyhow::anyhow!("cannot find the sluice binary to compile plugins with: {e}")
    })?;
    Ok(RuntimeConfig {
        cache_dir: Some(home.join("cache")),
        compiler: Compiler::ChildProcess {
            program,
            args: vec!["compile-plugin".into()],
        },
        ..RuntimeConfig::default()
    })
}

impl Context {
    pub fn runtime(&self) -> anyhow::Result<Runtime> {
        Ok(Runtime::new(runtime_config(&self.home)?)?)
    }

    pub fn tokio(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?)
    }

    /// Opens the store. Recovering crashed runs is `sluice run`'s job
    /// ([`pipeline::run`]): readers never write, so they never wait for a
    /// writer's lock and never touch another process's run.
    pub async fn store(&self) -> anyhow::Result<Store> {
        Ok(match &self.db {
            Some(url) => Store::open(url).await?,
            None => Store::open_default(&self.home).await?,
        })
    }

    /// Who the audit log names for what a person does from this shell.
    pub fn actor(&self) -> String {
        std::env::var("USER").unwrap_or_else(|_| "cli".into())
    }

    pub fn home(&self) -> &Path {
        &self.home
    }
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    let default_level = match cli.verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colour codes only for a person at a terminal, never into a file or pipe
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let ctx = Context {
        home: cli.home,
        db: cli.db,
    };
    let result = match cli.command {
        Command::Run {
            pipeline,
            no_cache,
            concurrency,
            verify,
            lease,
            allow_paths,
        } => pipeline::run(
            &ctx,
            &pipeline,
            sluice_pipeline::RunOptions {
                no_cache,
                concurrency,
                verify,
                lease: Some(lease),
            },
            allow_paths,
        ),
        Command::Check {
            pipeline,
            allow_paths,
        } => pipeline::check(&ctx, &pipeline, allow_paths),
        Command::Graph { pipeline, format } => pipeline::graph(&pipeline, format),
        Command::Runs { limit } => runs::runs(&ctx, limit),
        Command::Show { run, logs } => runs::show(&ctx, run, logs),
        Command::Artifacts(ArtifactsCommand::Export { digest, out }) => {
            pipeline::export(&ctx, &digest, &out)
        }
        Command::Artifacts(ArtifactsCommand::Verify) => pipeline::verify(&ctx),
        Command::Gc { dry_run } => pipeline::gc(&ctx, dry_run),
        Command::Audit(AuditCommand::Verify {
            since_checkpoint,
            expect,
        }) => runs::audit_verify(&ctx, since_checkpoint, &expect),
        Command::Audit(AuditCommand::Checkpoint) => runs::audit_checkpoint(&ctx),
        Command::Audit(AuditCommand::Log { limit }) => runs::audit_log(&ctx, limit),
        Command::Plugin(command) => plugin::run(command, ctx.home()),
        Command::Models { name, command } => match command {
            Some(command) => models::run(&ctx, command),
            None => models::list(&ctx, name.as_deref()),
        },
        Command::Promote {
            name,
            version,
            alias,
        } => models::promote(&ctx, &name, version, &alias),
        Command::Predict {
            model,
            input,
            out,
            policy,
            chunk_rows,
        } => predict::predict(
            &ctx,
            predict::PredictArgs {
                model: &model,
                input: &input,
                out: &out,
                policy: policy.as_deref(),
                chunk_rows,
            },
        ),
        Command::Deploy {
            name,
            version,
            mode,
            variant,
        } => rollout::deploy(&ctx, &name, version, &mode, variant.as_deref()),
        Command::Rollback { name, reason } => rollout::rollback(&ctx, &name, &reason),
        Command::Deployments { name, limit } => rollout::list(&ctx, name.as_deref(), limit),
        Command::Review(command) => rollout::review(&ctx, command),
        Command::Serve { config, listen } => serve::serve(&ctx, &config, listen),
        Command::Bundle(command) => models::bundle_command(&ctx, command),
        Command::Token(command) => token::run(&ctx, command),
        Command::Report { run, out } => models::report(&ctx, run, out.as_deref()),
        Command::CompilePlugin { args } => {
            return ExitCode::from(sluice_runtime::compile_child_main(&args) as u8);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // errors may quote a plugin's text: no raw control characters
            eprintln!("error: {}", text::escaped(&error.to_string()));
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {}", text::escaped(&cause.to_string()));
            }
            ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`sluice runs | head -1`)
/// makes every `println!` panic. A command-line tool should end quietly
/// instead, as `cat` does: restore the default action.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; it only
    // resets one signal's disposition to the default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
