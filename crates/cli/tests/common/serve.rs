//! `sluice serve` as an operator runs it: the example trained in a
//! temporary project, then the real binary listening on loopback, asked
//! over real HTTP (a plain HTTP/1.1 client on a TCP socket).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{copy_example, ok};

/// A temporary project holding the example, on SQLite in its home or on
/// a PostgreSQL database.
pub struct Project {
    dir: tempfile::TempDir,
    /// `SLUICE_DATABASE_URL` for every command; `None`: SQLite in the home.
    db: Option<String>,
}

impl Project {
    /// The example project with its pipeline as `edit` changes it.
    pub fn example(db: Option<String>, edit: impl FnOnce(String) -> String) -> Project {
        let dir = tempfile::tempdir().unwrap();
        copy_example(dir.path(), edit);
        Project { dir, db }
    }

    /// Runs the pipeline once and promotes version 1 to `production`.
    pub fn train(&self) {
        ok(&self.sluice(&["run", "pipeline.toml"]));
        ok(&self.sluice(&["promote", "chat-moderation", "1", "--alias", "production"]));
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn sluice(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run sluice")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .args(args)
            .env("SLUICE_HOME", self.path(".sluice"))
            .env_remove("SLUICE_DATABASE_URL")
            .current_dir(self.dir.path());
        if let Some(db) = &self.db {
            command.env("SLUICE_DATABASE_URL", db);
        }
        command
    }

    /// `sluice serve` with `extra` appended to a base serve.toml, on a free
    /// port, once ready. Its log goes to `<name>.log` in the project.
    pub fn serve(&self, name: &str, extra: &str) -> Served {
        let config = self.path(&format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[service]\nname = \"{name}\"\nmodel = \"chat-moderation@production\"\nreload_ms = 200\n\n\
                 [policy]\nwarn_at = 0.3\nescalate_at = 0.5\nblock_at = 0.9\n\
                 rules = {{ \"lexicon\" = \"block\", \"pii\" = \"warn\" }}\n\n{extra}"
            ),
        )
        .unwrap();
        let mut child = self
            .command(&[
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        // keep draining so the server never blocks on a full pipe
        let mut log = std::fs::File::create(self.path(&format!("{name}.log"))).unwrap();
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut log));
        let served = Served { child, addr };
        let started = Instant::now();
        loop {
            if let Ok((200, _, _)) = served.try_request("GET", "/readyz", None) {
                return served;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "never ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A running `sluice serve`, killed when dropped.
pub struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status, headers (lower case) and body of an answer.
pub type Answer = (u16, String, String);

impl Served {
    /// One HTTP/1.1 request on a fresh connection: status, headers, body.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> std::io::Result<Answer> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let body = body.unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        )?;
        // a refused oversized body may be answered before it is all sent
        let _ = stream.write_all(body);
        let mut raw = Vec::new();
        // the server may reset a connection whose body it refused unread
        let read = stream.read_to_end(&mut raw);
        if raw.is_empty() {
            read?;
        }
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((status, head.to_ascii_lowercase(), body.to_string()))
    }

    /// POSTs JSON; the status and the JSON answer.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, _, body) = self
            .try_request("POST", path, Some(body.to_string().as_bytes()))
            .unwrap();
        (
            status,
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}")),
        )
    }

    /// The value of one series of `/metrics` (`name{labels}` exactly as
    /// exposed), or `None` when it is not there.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (status, _, text) = self.try_request("GET", "/metrics", None).unwrap();
        assert_eq!(status, 200, "{text}");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.trim().parse().unwrap())
    }
}
