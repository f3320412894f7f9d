//! Store URL parsing and password redaction.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    SqliteFile(PathBuf),
    /// `sqlite::memory:`: one connection, gone when the store is dropped.
    SqliteMemory,
    Postgres,
}

/// Decides the backend. Returns the reason on error (the caller adds the
/// redacted URL).
pub(super) fn parse(url: &str) -> Result<Target, String> {
    if url.is_empty() {
        return Err("empty; expected `sqlite://PATH`, `postgres://...` or a file path".into());
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres);
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        // `sqlite:///abs` keeps its leading slash, `sqlite://rel.db` is relative.
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        if rest == ":memory:" {
            return Ok(Target::SqliteMemory);
        }
        if rest.contains('?') {
            return Err("query parameters are not supported for SQLite".into());
        }
        if rest.is_empty() {
            return Err("no database file path after `sqlite://`".into());
        }
        return Ok(Target::SqliteFile(PathBuf::from(rest)));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(format!(
            "unsupported scheme `{scheme}`; expected `sqlite://PATH`, `postgres://...` or a file path"
        ));
    }
    Ok(Target::SqliteFile(PathBuf::from(url)))
}

/// The URL with any password removed: from the userinfo part and from a
/// `password=` query parameter.
pub(super) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backends() {
        assert_eq!(
            parse("sqlite:///abs/x.db"),
            Ok(Target::SqliteFile("/abs/x.db".into()))
        );
        assert_eq!(
            parse("sqlite://rel.db"),
            Ok(Target::SqliteFile("rel.db".into()))
        );
        assert_eq!(
            parse("sqlite:rel.db"),
            Ok(Target::SqliteFile("rel.db".into()))
        );
        assert_eq!(parse("sqlite::memory:"), Ok(Target::SqliteMemory));
        assert_eq!(
            parse(".sluice/sluice.db"),
            Ok(Target::SqliteFile(".sluice/sluice.db".into()))
        );
        assert_eq!(parse("postgres://u@h/db"), Ok(Target::Postgres));
        assert_eq!(parse("postgresql://u@h/db"), Ok(Target::Postgres));
        assert!(
            parse("mysql://h/db")
                .unwrap_err()
                .contains("unsupported scheme `mysql`")
        );
        assert!(parse("sqlite://").is_err());
        assert!(parse("sqlite://x.db?mode=ro").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://h/db?user=u&password=secret&sslmode=disable"),
            "postgres://h/db?user=u&sslmode=disable"
        );
        assert_eq!(
            redact("postgres://u:p@ss@h/db?password=x"),
            "postgres://u@h/db"
        );
        assert_eq!(redact("relative/path.db"), "relative/path.db");
    }
}
