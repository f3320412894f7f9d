//! Several `sluice` processes on one store at once, as people use it: a
//! long `sluice run` while others list runs or start runs of their own, on
//! SQLite and on PostgreSQL, and a run whose process is killed.
//!
//! PostgreSQL: see `common::postgres` (`SLUICE_TEST_POSTGRES`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

mod common;
use common::postgres::PgTestDb;

/// Rows of the slow pipeline's input. One row per chunk makes each row a
/// guest call and a Parquet append: seconds of work for a small file.
const SLOW_ROWS: usize = 300_000;

/// A project with a slow and a fast pipeline over the first-party
/// `clean-text` plugin, and the sluice home and database they share.
struct Project {
    dir: tempfile::TempDir,
    /// `--db` for every command; `None`: SQLite in the home.
    db: Option<String>,
}

impl Project {
    fn new(db: Option<String>) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(
            path("policy.toml"),
            "[plugin.clean-text]\nread = [\"text\"]\nwrite = [\"text_clean\"]\n",
        )
        .unwrap();
        let mut slow = String::from("text\n");
        for i in 0..SLOW_ROWS {
            slow.push_str(&format!("HELLO   World number {i}\n"));
        }
        std::fs::write(path("slow.csv"), slow).unwrap();
        std::fs::write(path("fast.csv"), "text\nHELLO   World\n").unwrap();
        for (name, input, chunk_rows) in [("slow", "slow.csv", 1), ("fast", "fast.csv", 4096)] {
            std::fs::write(
                path(&format!("{name}.toml")),
                format!(
                    "[pipeline]\nname = \"{name}\"\npolicy = \"policy.toml\"\nchunk_rows = {chunk_rows}\n\
                     [source.messages]\npath = \"{input}\"\n\
                     [step.clean]\nplugin = \"clean-text\"\ninput = \"messages\"\n"
                ),
            )
            .unwrap();
        }
        // no command has opened the store yet: the first ones race to create it
        Project { dir, db }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join(".sluice")
    }

    fn pipeline(&self, name: &str) -> String {
        self.dir
            .path()
            .join(format!("{name}.toml"))
            .display()
            .to_string()
    }

    fn command(&self, args: &[&str], lease: Option<&str>) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .args(args)
            .env("SLUICE_HOME", self.home())
            .env_remove("SLUICE_DATABASE_URL")
            .env_remove("SLUICE_RUN_LEASE")
            .current_dir(self.dir.path());
        if let Some(db) = &self.db {
            command.env("SLUICE_DATABASE_URL", db);
        }
        if let Some(lease) = lease {
            command.env("SLUICE_RUN_LEASE", lease);
        }
        command
    }

    /// Runs a command to its end and asserts it succeeded; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args, None).output().expect("run sluice");
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "sluice {args:?} failed:\n{stdout}\n{stderr}"
        );
        stdout
    }

    /// Starts a command in the background.
    fn spawn(&self, args: &[&str], lease: Option<&str>) -> Child {
        self.command(args, lease)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice")
    }

    /// `(run id, status)` of every run, from `sluice runs`.
    fn runs(&self) -> Vec<(i64, String, String)> {
        self.ok(&["runs", "--limit", "100"])
            .lines()
            .skip(1)
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (
                    fields[0].parse().unwrap(),
                    fields[1].to_string(),
                    fields[2].to_string(),
                )
            })
            .collect()
    }

    fn status_of(&self, run: i64) -> String {
        let runs = self.runs();
        let found = runs.iter().find(|(id, _, _)| *id == run);
        found.map(|r| r.2.clone()).unwrap_or_default()
    }

    /// Waits until a run of `pipeline` is `running`; returns its id.
    fn wait_running(&self, pipeline: &str, child: &mut Child) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let running = self
                .runs()
                .into_iter()
                .find(|(_, p, status)| p == pipeline && status == "running");
            if let Some((id, _, _)) = running {
                return id;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the {pipeline} run ended ({status}) before it was seen running");
            }
            assert!(
                Instant::now() < deadline,
                "no running {pipeline} run after 120 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn finish(child: Child, what: &str) -> String {
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    stdout
}

/// Readers and a second run while a run works: today's bug was that any of
/// them cancelled the live run (`complete_step … already cancelled`).
fn readers_and_a_second_run_leave_a_live_run_alone(project: &Project) {
    let slow = project.pipeline("slow");
    let mut long = project.spawn(&["run", &slow], None);
    let run = project.wait_running("slow", &mut long);

    for _ in 0..3 {
        project.ok(&["runs"]);
    }
    let shown = project.ok(&["show", &run.to_string()]);
    assert!(
        shown.contains("— running") && shown.contains(&format!(":{}:", long.id())),
        "`show` names the owning process:\n{shown}"
    );
    project.ok(&["models"]);
    project.ok(&["audit", "verify"]);
    let second = project.ok(&["run", &project.pipeline("fast")]);
    assert!(second.contains("succeeded"), "{second}");
    assert_eq!(
        project.status_of(run),
        "running",
        "the slow run must outlast the other commands for this test to mean anything; \
         raise SLOW_ROWS"
    );

    let stdout = finish(long, "the long run");
    assert!(stdout.contains(&format!("run {run} succeeded")), "{stdout}");
    assert_eq!(project.status_of(run), "succeeded");
    project.ok(&["audit", "verify"]);
}

#[test]
fn sqlite_readers_and_a_second_run_leave_a_live_run_alone() {
    readers_and_a_second_run_leave_a_live_run_alone(&Project::new(None));
}

#[test]
fn postgres_readers_and_a_second_run_leave_a_live_run_alone() {
    let Some(db) = PgTestDb::create("readers_and_a_second_run") else {
        return;
    };
    readers_and_a_second_run_leave_a_live_run_alone(&Project::new(Some(db.url.clone())));
}

/// Several `sluice run`s at once on one PostgreSQL store, with a reader
/// polling: every run succeeds.
#[test]
fn postgres_several_writers_at_once_all_succeed() {
    let Some(db) = PgTestDb::create("several_writers") else {
        return;
    };
    let project = Project::new(Some(db.url.clone()));
    let slow = project.pipeline("slow");
    let fast = project.pipeline("fast");
    let mut writers = vec![
        project.spawn(&["run", "--no-cache", &slow], Some("3s")),
        project.spawn(&["run", "--no-cache", &slow], Some("3s")),
    ];
    let first = project.wait_running("slow", &mut writers[0]);
    for _ in 0..3 {
        writers.push(project.spawn(&["run", "--no-cache", &fast], Some("3s")));
        project.ok(&["runs"]);
    }
    assert_eq!(project.status_of(first), "running", "raise SLOW_ROWS");
    for (i, writer) in writers.into_iter().enumerate() {
        finish(writer, &format!("writer {i}"));
    }
    let runs = project.runs();
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert!(runs.iter().all(|(_, _, s)| s == "succeeded"), "{runs:?}");
    let verified = project.ok(&["audit", "verify"]);
    assert!(verified.contains("hash chain intact"), "{verified}");
}

/// A `kill -9` leaves the run `running`; nobody takes it while its lease
/// holds, and the next `sluice run` after the lease expired cancels it and
/// writes its run-finish audit entry.
#[test]
fn a_killed_run_is_recovered_only_after_its_lease_expired() {
    const LEASE: Duration = Duration::from_secs(10);
    let project = Project::new(None);
    let mut victim = project.spawn(&["run", &project.pipeline("slow")], Some("10s"));
    let run = project.wait_running("slow", &mut victim);
    victim.kill().unwrap(); // SIGKILL: no cleanup of any kind
    victim.wait().unwrap();
    let killed_at = Instant::now();

    // within the lease: the run is taken for alive and left alone
    let fast = project.pipeline("fast");
    let early = project.command(&["run", &fast], None).output().unwrap();
    let (_, stderr) = text(&early);
    assert!(early.status.success(), "{stderr}");
    assert!(
        killed_at.elapsed() < LEASE / 2,
        "too slow to test within the lease"
    );
    assert_eq!(project.status_of(run), "running", "{stderr}");

    let listed = project.ok(&["runs"]);
    assert!(!listed.contains("lease expired"), "{listed}");
    // after it: `sluice runs` says the process is gone, and the next run
    // recovers it
    std::thread::sleep((LEASE + Duration::from_secs(1)).saturating_sub(killed_at.elapsed()));
    let listed = project.ok(&["runs"]);
    let line = listed
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{run} ")))
        .unwrap_or_else(|| panic!("run {run} not listed:\n{listed}"));
    assert!(
        line.contains("running") && line.contains("lease expired"),
        "{line}"
    );
    let late = project.command(&["run", &fast], None).output().unwrap();
    let (_, stderr) = text(&late);
    assert!(late.status.success(), "{stderr}");
    assert!(
        stderr.contains("cancelled interrupted run(s)") && stderr.contains(&format!("[{run}]")),
        "{stderr}"
    );
    assert_eq!(project.status_of(run), "cancelled");
    let shown = project.ok(&["show", &run.to_string()]);
    assert!(
        shown.contains("stopped renewing the run's lease") && !shown.contains(" running "),
        "{shown}"
    );
    let audit = project.ok(&["audit", "log", "--limit", "100"]);
    let finish = audit
        .lines()
        .find(|l| l.contains("run.finish") && l.contains(&format!("\"run\":{run},")))
        .unwrap_or_else(|| panic!("no run.finish for run {run}:\n{audit}"));
    assert!(
        finish.contains("\"recovered\":true") && finish.contains("\"status\":\"cancelled\""),
        "{finish}"
    );
    let verified = project.ok(&["audit", "verify"]);
    assert!(verified.contains("hash chain intact"), "{verified}");
}

/// Cutting the audit log's tail is caught against a checkpoint and an
/// anchor kept outside the database; every broken row is listed.
#[test]
fn audit_checkpoint_catches_a_cut_tail() {
    let project = Project::new(None);
    project.ok(&["run", &project.pipeline("fast")]);
    project.ok(&["run", "--no-cache", &project.pipeline("fast")]);
    let printed = project.ok(&["audit", "checkpoint"]);
    let anchor = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("sluice audit verify --expect "))
        .unwrap_or_else(|| panic!("no anchor printed:\n{printed}"))
        .to_string();
    let head: i64 = anchor.rsplit_once('@').unwrap().1.parse().unwrap();
    assert!(head >= 4, "{printed}");
    let verified = project.ok(&["audit", "verify", "--since-checkpoint", "--expect", &anchor]);
    assert!(verified.contains("2 anchor(s) hold"), "{verified}");

    // an admin with database access drops the guard and cuts the tail
    let db = project.home().join("sluice.db");
    sql_as_admin(
        &db,
        &[
            "DROP TRIGGER audit_log_no_delete",
            &format!("DELETE FROM audit_log WHERE id >= {}", head - 1),
        ],
    );
    let cut = project
        .command(&["audit", "verify", "--expect", &anchor], None)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&cut);
    assert!(!cut.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("row {head}: checkpoint 1"))
            && stdout.contains(&format!("row {head}: the expected head")),
        "{stdout}"
    );
    assert!(
        stderr.contains("audit log broken: 2 broken row(s)"),
        "{stderr}"
    );
}

/// Runs SQL on a SQLite file through the store crate's driver (sqlx), as an
/// admin at the database would.
fn sql_as_admin(db: &Path, statements: &[&str]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for statement in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
    });
}
