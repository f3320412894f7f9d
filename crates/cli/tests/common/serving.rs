//! A trained example project served by the real `sluice serve` on
//! loopback, asked over real HTTP (a plain HTTP/1.1 client on a TCP
//! socket), on SQLite or PostgreSQL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{copy_example, ok};

pub struct Project {
    pub dir: tempfile::TempDir,
    /// `SLUICE_DATABASE_URL` for every command; `None`: SQLite in the home.
    pub db: Option<String>,
    /// A `predict` token's secret, sent by [`Served::post`].
    pub predict_token: String,
}

impl Project {
    /// The example project as shipped, trained once and promoted to
    /// `production`, with a `predict` token.
    pub fn trained(db: Option<String>) -> Project {
        Project::trained_with(db, |_| {})
    }

    /// [`Project::trained`], with `edit` changing the project's files
    /// (pipeline.toml, policy.toml) before the run.
    pub fn trained_with(db: Option<String>, edit: impl FnOnce(&Path)) -> Project {
        let dir = tempfile::tempdir().unwrap();
        copy_example(dir.path(), |pipeline| pipeline);
        edit(dir.path());
        let mut project = Project {
            dir,
            db,
            predict_token: String::new(),
        };
        ok(&project.sluice(&["run", "pipeline.toml"]));
        ok(&project.sluice(&["promote", "chat-moderation", "1", "--alias", "production"]));
        project.predict_token = project.token("predict");
        project
    }

    /// A new token's secret (`sluice token create --role ROLE`).
    pub fn token(&self, role: &str) -> String {
        ok(&self.sluice(&["token", "create", "--role", role]))
            .trim()
            .to_string()
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
    /// port, once ready.
    pub fn serve(&self, name: &str, extra: &str) -> Served {
        let config = self.path(&format!("{name}.toml"));
        // `extra` may bring its own policy
        let policy = if extra.contains("[policy]") {
            ""
        } else {
            "[policy]\nwarn_at = 0.3\nescalate_at = 0.5\nblock_at = 0.9\n\
             rules = { \"lexicon\" = \"block\", \"pii\" = \"warn\" }\n\n"
        };
        std::fs::write(
            &config,
            format!(
                "[service]\nname = \"{name}\"\nmodel = \"chat-moderation@production\"\nreload_ms = 200\n\n\
                 {policy}{extra}"
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
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        // keep draining so the server never blocks on a full pipe
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let served = Served {
            child,
            addr,
            token: Some(self.predict_token.clone()),
        };
        if !line.contains("https://") {
            served.wait_ready();
        }
        served
    }
}

pub struct Served {
    pub child: Child,
    pub addr: String,
    /// Sent as `Authorization: Bearer` by default.
    pub token: Option<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status, lower-cased head, body.
pub type Answer = (u16, String, String);

impl Served {
    pub fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            if let Ok((200, _, _)) = self.try_request("GET", "/readyz", None) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "never ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One request with the default token.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> std::io::Result<Answer> {
        self.request_as(self.token.as_deref(), method, path, body)
    }

    /// One HTTP/1.1 request on a fresh connection, with `token` (or none).
    pub fn request_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> std::io::Result<Answer> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        exchange(&mut stream, &self.addr, token, method, path, body)
    }

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

/// Writes one request on `stream` and reads the whole answer (the request
/// says `Connection: close`).
pub fn exchange(
    stream: &mut (impl Read + Write),
    host: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> std::io::Result<Answer> {
    let body = body.unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    // a refused oversized body may be answered before it is all sent
    let _ = stream.write_all(body);
    let _ = stream.flush();
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

/// Requests from `threads` threads until `stop`; returns the request ids
/// of the answers (all must be 200).
pub fn load(server: &Arc<Served>, threads: usize, stop: &Arc<AtomicBool>) -> Vec<String> {
    let sent = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let server = server.clone();
            let stop = stop.clone();
            let sent = sent.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    let (status, answer) = server.post(
                        "/v1/moderate",
                        &json!({ "text": format!("message {n} from thread {t}"), "user_id": "u" }),
                    );
                    assert_eq!(status, 200, "{answer}");
                    ids.push(answer["request_id"].as_str().unwrap().to_string());
                }
                ids
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}
