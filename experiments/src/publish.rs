//! Results pages of the book, generated from run directories: where a run came from
//! ([`Provenance`], written into the run directory by `rome_repro`), and the page that puts a
//! run's report, provenance and figures into the book ([`results_page`], the `results_page`
//! binary). A results page is never edited by hand: rerunning the command rewrites it, so the
//! book cannot drift from the run it cites.

use std::path::{Path, PathBuf};

use sim_core::io::{WriteError, write_atomic};

use crate::error::FsError;

/// The provenance file of a run directory.
pub const PROVENANCE: &str = "provenance.txt";

/// The figures of a `rome_repro` run directory a results page shows, with their captions.
pub const FIGURES: [(&str, &str); 4] = [
    ("learning_curves.svg", "Learning curves: evaluation return and violation rate per condition over training"),
    ("frontier.svg", "Return against violation rate per condition, with the exact honest optimum"),
    ("detection_latency.svg", "Steps from a violation to its alert"),
    ("violation_breakdown.svg", "Violations per episode by kind and condition"),
];

/// Where a run directory came from, as `key: value` lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The checkout's commit when the run finished (`git rev-parse`), marked where the checkout
    /// had uncommitted changes, or why it is unknown.
    pub commit: String,
    /// The command line.
    pub command: String,
    /// The host's CPU and the threads the process could use.
    pub host: String,
}

impl Provenance {
    /// The provenance of this process: its command line, the git checkout of the working
    /// directory, this host.
    pub fn of_this_process() -> Self {
        let command = std::env::args().map(|a| quote(&a)).collect::<Vec<_>>().join(" ");
        Provenance { commit: commit(), command, host: host() }
    }

    /// Writes `provenance.txt` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), WriteError> {
        let text = format!("commit: {}\ncommand: {}\nhost: {}\n", self.commit, self.command, self.host);
        write_atomic(&dir.join(PROVENANCE), text.as_bytes())
    }

    /// The provenance recorded in `dir`, if any.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(PROVENANCE)).ok()?;
        let field = |key: &str| {
            text.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(": "))).map(str::to_string)
        };
        Some(Provenance { commit: field("commit")?, command: field("command")?, host: field("host")? })
    }
}

fn quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if changes.is_empty() => hash,
            Some(_) => format!("{hash} (with uncommitted changes)"),
            None => format!("{hash} (status unknown)"),
        },
        None => "not recorded (the working directory is not a git checkout)".into(),
    }
}

fn host() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {threads} threads")
}

/// Why a results page could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The run directory has no report: not a finished `rome_repro` run.
    #[error("{}: no report.md; give the directory of a finished rome_repro run", run.display())]
    NoReport {
        /// The directory given.
        run: PathBuf,
    },
    /// The page's name would not be a plain file name.
    #[error("page name `{0}`: use letters, digits, `-` and `_` only")]
    Name(String),
    /// A file could not be read or a directory made.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Writes the results page `name` of the book in `book` (its `src/results/<name>.md`, and the
/// run's figures under `src/figures/<name>/`) from the `rome_repro` run directory `run`, with
/// `title` as its heading and `command` as the command that regenerates it. Returns the page's
/// path.
pub fn results_page(run: &Path, book: &Path, name: &str, title: &str, command: &str) -> Result<PathBuf, PublishError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(PublishError::Name(name.into()));
    }
    let report_path = run.join("report.md");
    if !report_path.is_file() {
        return Err(PublishError::NoReport { run: run.to_path_buf() });
    }
    let report = std::fs::read_to_string(&report_path).map_err(|source| FsError::Read { path: report_path, source })?;
    let figures_dir = book.join("src").join("figures").join(name);
    FsError::create_dir(&figures_dir)?;
    let mut page = format!(
        "# {title}\n\n<!-- Generated from a run directory by `{command}`; rerun it, do not edit this page. -->\n\n"
    );
    page.push_str("| | |\n|---|---|\n");
    match Provenance::read(run) {
        Some(p) => {
            page.push_str(&format!(
                "| commit | `{}` |\n| command | `{}` |\n| host | {} |\n",
                p.commit, p.command, p.host
            ));
        }
        None => page.push_str(&format!("| provenance | not recorded (no `{PROVENANCE}` in the run directory) |\n")),
    }
    page.push_str(&format!("| run directory | `{}` |\n\n", run.display()));
    // The report without its own title; its sections keep their levels under the page's.
    let body = report.split_once('\n').map_or("", |(first, rest)| if first.starts_with("# ") { rest } else { &report });
    page.push_str(body.trim_start_matches('\n'));
    let shown: Vec<_> = FIGURES.iter().filter(|(file, _)| run.join(file).is_file()).collect();
    if !shown.is_empty() {
        page.push_str("\n## Figures\n");
    }
    for (file, caption) in shown {
        let from = run.join(file);
        let svg = std::fs::read(&from).map_err(|source| FsError::Read { path: from, source })?;
        write_atomic(&figures_dir.join(file), &svg)?;
        page.push_str(&format!("\n{caption}.\n\n![{caption}](../figures/{name}/{file})\n"));
    }
    let path = book.join("src").join("results").join(format!("{name}.md"));
    FsError::create_dir(path.parent().expect("a results page has a folder"))?;
    write_atomic(&path, page.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("publish_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_page_carries_the_report_its_provenance_and_figures() {
        let (run, book) = (scratch("run"), scratch("book"));
        std::fs::write(
            run.join("report.md"),
            "# rome_repro: default\n\nBase `pressure`.\n\n## Verdicts\n\n| P1 | partly |\n",
        )
        .unwrap();
        std::fs::write(run.join("frontier.svg"), "<svg/>").unwrap();
        let provenance = Provenance {
            commit: "abc123".into(),
            command: "rome_repro --quick".into(),
            host: "a CPU, 2 threads".into(),
        };
        provenance.write(&run).unwrap();
        assert_eq!(Provenance::read(&run).as_ref(), Some(&provenance));
        let page = results_page(&run, &book, "reference", "The reference run", "results_page --run x").unwrap();
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(text.starts_with("# The reference run\n") && !text.contains("# rome_repro: default"), "{text}");
        assert!(text.contains("| commit | `abc123` |") && text.contains("`rome_repro --quick`"), "{text}");
        assert!(text.contains("## Verdicts\n\n| P1 | partly |") && text.contains("results_page --run x"), "{text}");
        assert!(
            text.contains("(../figures/reference/frontier.svg)") && !text.contains("learning_curves.svg"),
            "{text}"
        );
        assert_eq!(std::fs::read_to_string(book.join("src/figures/reference/frontier.svg")).unwrap(), "<svg/>");
    }

    #[test]
    fn a_directory_without_a_report_or_a_bad_name_is_refused_by_name() {
        let (run, book) = (scratch("empty"), scratch("book2"));
        let err = results_page(&run, &book, "reference", "t", "c").unwrap_err().to_string();
        assert!(err.contains("no report.md") && err.contains(&run.display().to_string()), "{err}");
        let err = results_page(&run, &book, "../escape", "t", "c").unwrap_err().to_string();
        assert!(err.contains("page name `../escape`"), "{err}");
        assert!(!book.join("src").exists(), "nothing written");
        assert!(Provenance::read(&run).is_none());
    }

    #[test]
    fn arguments_are_quoted_where_a_shell_would_split_them() {
        assert_eq!(quote("--out"), "--out");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
