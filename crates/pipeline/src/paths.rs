//! Where a pipeline may touch files. A pipeline file is often someone
//! else's: its sources, outputs and the directories its policy grants stay
//! inside the project root (the pipeline file's folder) and the folders the
//! user allows (`--allow-path DIR`). Each path is resolved through cap-std,
//! opened at the root, so neither `..` nor a symlink can leave it.

use std::io;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

/// What a path is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// An existing file (a source, a policy).
    ReadFile,
    /// An existing directory (a granted `dirs` entry).
    ReadDir,
    /// A file to be created or replaced (an output): its folder must be
    /// inside a root; missing folders are created there.
    Write,
}

/// One folder a pipeline may use, held open.
#[derive(Debug)]
struct Root {
    /// As named (absolute, `..` removed) and with symlinks resolved: a
    /// path may be written relative to either.
    named: PathBuf,
    canonical: PathBuf,
    dir: Dir,
}

/// The project root and the folders the user allowed beyond it.
#[derive(Debug)]
pub struct PathRules {
    roots: Vec<Root>,
}

/// The rule that refuses a path outside the roots, for error messages.
const RULE: &str = "a pipeline's sources, outputs and granted dirs stay inside its project root \
                    (the pipeline file's folder); allow more with `--allow-path DIR`";

impl PathRules {
    /// `project` is the pipeline file's folder; `allowed` the folders the
    /// user allows besides it (they must exist).
    pub fn new(project: &Path, allowed: &[PathBuf]) -> Result<Self, String> {
        let mut roots = Vec::new();
        for (folder, what) in std::iter::once((project, "project root"))
            .chain(allowed.iter().map(|a| (a.as_path(), "--allow-path")))
        {
            let folder = if folder.as_os_str().is_empty() {
                Path::new(".")
            } else {
                folder
            };
            let fail = |e: io::Error| format!("{what} {}: {e}", folder.display());
            let named = lexical(&std::path::absolute(folder).map_err(fail)?);
            let canonical = folder.canonicalize().map_err(fail)?;
            let dir = Dir::open_ambient_dir(&canonical, ambient_authority()).map_err(fail)?;
            roots.push(Root {
                named,
                canonical,
                dir,
            });
        }
        Ok(PathRules { roots })
    }

    /// The path to use for `path`: inside a root, reached without leaving
    /// it. Refusals name the path and the rule.
    pub fn confine(&self, path: &Path, access: Access) -> Result<PathBuf, String> {
        let wanted = std::path::absolute(path)
            .map(|p| lexical(&p))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut last_error = None;
        for root in &self.roots {
            for base in [&root.named, &root.canonical] {
                let Ok(relative) = wanted.strip_prefix(base) else {
                    continue;
                };
                match reach(&root.dir, relative, access) {
                    Ok(()) => return Ok(root.canonical.join(relative)),
                    Err(e) => last_error = Some((root, e)),
                }
            }
        }
        Err(match last_error {
            Some((_, e)) if e.kind() == io::ErrorKind::NotFound => {
                format!("{} does not exist", path.display())
            }
            Some((root, e)) => format!(
                "{} leaves {} through a symlink ({e}): {RULE}",
                path.display(),
                root.canonical.display()
            ),
            None => format!(
                "{} is outside {}: {RULE}",
                path.display(),
                self.roots[0].canonical.display()
            ),
        })
    }
}

/// Opens `relative` under `dir` as `access` needs; cap-std refuses any step
/// (`..`, an absolute or outward symlink) that would leave `dir`.
fn reach(dir: &Dir, relative: &Path, access: Access) -> io::Result<()> {
    match access {
        Access::ReadFile => dir.open(relative).map(drop),
        Access::ReadDir => dir.open_dir(relative).map(drop),
        // the deepest folder that exists must be reached inside the root;
        // the missing ones below it are plain names (no `..` is left), made
        // by the writer when the run succeeds
        Access::Write => {
            let mut folder = relative.parent().unwrap_or(Path::new(""));
            loop {
                if folder.as_os_str().is_empty() {
                    return Ok(());
                }
                match dir.open_dir(folder) {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        folder = folder.parent().unwrap_or(Path::new(""));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// `path` with `.` and `..` removed by the text alone (no file system): the
/// result is then checked against the roots and opened through cap-std,
/// which resolves any symlink inside the root, never out of it.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, PathRules) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("project/data")).unwrap();
        std::fs::write(dir.path().join("project/data/in.csv"), "a\n1\n").unwrap();
        std::fs::write(dir.path().join("secret.csv"), "a\n1\n").unwrap();
        let rules = PathRules::new(&dir.path().join("project"), &[]).unwrap();
        (dir, rules)
    }

    #[test]
    fn paths_inside_the_root_are_allowed() {
        let (dir, rules) = project();
        let inside = dir.path().join("project/data/../data/in.csv");
        let confined = rules.confine(&inside, Access::ReadFile).unwrap();
        assert!(confined.ends_with("project/data/in.csv"), "{confined:?}");
        let out = dir.path().join("project/out/new/x.parquet");
        rules.confine(&out, Access::Write).unwrap();
    }

    #[test]
    fn dot_dot_and_symlinks_cannot_leave_the_root() {
        let (dir, rules) = project();
        let up = dir.path().join("project/../secret.csv");
        let e = rules.confine(&up, Access::ReadFile).unwrap_err();
        assert!(
            e.contains("secret.csv") && e.contains("is outside") && e.contains("--allow-path"),
            "{e}"
        );
        std::os::unix::fs::symlink(
            dir.path().join("secret.csv"),
            dir.path().join("project/data/link.csv"),
        )
        .unwrap();
        let e = rules
            .confine(&dir.path().join("project/data/link.csv"), Access::ReadFile)
            .unwrap_err();
        assert!(
            e.contains("link.csv") && e.contains("symlink") && e.contains("--allow-path"),
            "{e}"
        );
        std::os::unix::fs::symlink("../..", dir.path().join("project/data/up")).unwrap();
        let e = rules
            .confine(&dir.path().join("project/data/up/x.parquet"), Access::Write)
            .unwrap_err();
        assert!(e.contains("symlink"), "{e}");
        assert!(!dir.path().join("x.parquet").exists());
    }

    #[test]
    fn allowed_folders_are_roots_too() {
        let (dir, _) = project();
        let rules =
            PathRules::new(&dir.path().join("project"), &[dir.path().to_path_buf()]).unwrap();
        rules
            .confine(&dir.path().join("project/../secret.csv"), Access::ReadFile)
            .unwrap();
    }
}
