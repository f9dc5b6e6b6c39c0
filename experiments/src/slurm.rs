//! `rome_repro` matrices as Slurm job arrays: the scripts `rome_repro --slurm <dir>` writes.
//!
//! Nothing here talks to Slurm. [`ArrayJob::write`] writes three files into a directory the user
//! keeps: `array.sbatch`, one array task per [`crate::repro::task_count`] share of the matrix's
//! runs, each running `rome_repro --task $SLURM_ARRAY_TASK_ID`; `aggregate.sbatch`, which runs
//! `rome_repro --aggregate` (the tables, figures, verdicts and report from the finished runs); and
//! `submit.sh`, which submits the array and then the aggregation with
//! `--dependency=afterok:<array>`. The results are the bytes a single `rome_repro` process
//! writes: every run is deterministic and written atomically by whichever task computes it.
//!
//! Preemption and time limits: the array asks Slurm for SIGTERM ahead of its time limit
//! (`--signal=B:TERM@<s>`) and to requeue it on preemption (`--requeue`). On SIGTERM a task
//! checkpoints its runs in progress and exits; when the signal was the time-limit warning (the
//! job has less than `requeue_below` seconds left), the script requeues the task itself, and the
//! requeued task continues from the checkpoints. A `scancel` is not requeued.
//!
//! Every `#SBATCH` option can be overridden (or added, or removed with `KEY=`) from the command
//! line (`--sbatch time=4:00:00`) or from a file a user keeps (`--sbatch-file`), one option per
//! line as `#SBATCH --time=4:00:00`, `--time=4:00:00` or `time=4:00:00`; `#` comments.

use std::path::{Path, PathBuf};

use crate::error::FsError;

/// Ordered `#SBATCH` options; a later value of a key replaces the earlier one in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options(Vec<(String, Option<String>)>);

impl Options {
    /// Options from `(key, value)` pairs (`None`: a flag such as `requeue`).
    pub fn new(pairs: &[(&str, Option<&str>)]) -> Self {
        let mut o = Options::default();
        for (k, v) in pairs {
            o.set(k, v.map(str::to_string));
        }
        o
    }

    /// Sets `key` (replacing its value where it was; `Some("")` removes it).
    pub fn set(&mut self, key: &str, value: Option<String>) {
        if value.as_deref() == Some("") {
            self.0.retain(|(k, _)| k != key);
        } else if let Some(slot) = self.0.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        } else {
            self.0.push((key.to_string(), value));
        }
    }

    /// The value of `key`, if set (`Some(None)` for a flag).
    pub fn get(&self, key: &str) -> Option<Option<&str>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_deref())
    }

    /// The `#SBATCH` lines.
    fn lines(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("#SBATCH --{k}={v}\n"),
                None => format!("#SBATCH --{k}\n"),
            })
            .collect()
    }
}

/// Why Slurm scripts could not be written, or an option override was refused.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// An override that is not an sbatch option.
    #[error(
        "{origin}: `{text}` is not an sbatch option (expected `key=value` or `key`, key like `time` or `cpus-per-task`)"
    )]
    NotAnOption {
        /// Where it came from (`--sbatch`, `file:line`).
        origin: String,
        /// The override as given.
        text: String,
    },
    /// `dependency` is the scripts' own.
    #[error("{origin}: `dependency` is set by submit.sh (the aggregation runs after the array)")]
    Dependency {
        /// Where it came from.
        origin: String,
    },
    /// A value would break the script's line.
    #[error("{origin}: the value of `{key}` holds a line break")]
    LineBreak {
        /// Where it came from.
        origin: String,
        /// The option.
        key: String,
    },
    /// The matrix has no runs.
    #[error("the matrix has no runs: nothing to submit")]
    NoRuns,
    /// A file could not be read, a directory made or a script made executable.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A script could not be written.
    #[error(transparent)]
    Write(#[from] sim_core::io::WriteError),
}

/// One option override, `key=value`, `--key=value`, `#SBATCH --key=value` or a flag `key`;
/// `origin` names where it came from in errors.
pub fn parse_option(text: &str, origin: &str) -> Result<(String, Option<String>), SlurmError> {
    let t = text.trim();
    let t = t.strip_prefix("#SBATCH").map_or(t, str::trim_start);
    let t = t.strip_prefix("--").unwrap_or(t);
    let (key, value) = match t.split_once('=') {
        Some((k, v)) => (k.trim(), Some(v.trim().to_string())),
        None => (t, None),
    };
    let well_formed = key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !well_formed {
        return Err(SlurmError::NotAnOption { origin: origin.into(), text: text.into() });
    }
    if key == "dependency" {
        return Err(SlurmError::Dependency { origin: origin.into() });
    }
    if value.as_deref().is_some_and(|v| v.contains(['\n', '\r'])) {
        return Err(SlurmError::LineBreak { origin: origin.into(), key: key.into() });
    }
    Ok((key.to_string(), value))
}

/// The overrides in file `path`: one option per line, blank lines and `#` comments skipped
/// (`#SBATCH` lines are options).
pub fn options_file(path: &Path) -> Result<Vec<(String, Option<String>)>, SlurmError> {
    let text = std::fs::read_to_string(path).map_err(|source| FsError::Read { path: path.to_path_buf(), source })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim();
            !(l.is_empty() || (l.starts_with('#') && !l.starts_with("#SBATCH")))
        })
        .map(|(i, l)| parse_option(l, &format!("{}:{}", path.display(), i + 1)))
        .collect()
}

/// A shell word: `s` in single quotes (a quote inside closed, escaped and reopened).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// An array job over a matrix.
pub struct ArrayJob<'a> {
    /// The matrix's name (job names).
    pub name: &'a str,
    /// The `rome_repro` binary the tasks run.
    pub exe: &'a Path,
    /// The run directory every task writes into.
    pub run_dir: &'a Path,
    /// Where the scripts and the tasks' logs go.
    pub script_dir: &'a Path,
    /// The arguments that choose the matrix (`--config …`, `--base-scenario …`, `--device …`),
    /// passed to every task and to the aggregation.
    pub matrix_args: Vec<String>,
    /// Array tasks.
    pub tasks: usize,
    /// Runs per task.
    pub runs_per_task: usize,
    /// Overrides of both scripts' options, in order (a file's, then the command line's).
    pub overrides: Vec<(String, Option<String>)>,
}

/// Seconds before the time limit at which the array asks for SIGTERM: a checkpoint takes well
/// under this.
pub const SIGNAL_AHEAD_S: u64 = 120;

impl ArrayJob<'_> {
    /// The array script's default options.
    fn array_options(&self) -> Options {
        let logs = self.script_dir.join("logs");
        let mut o = Options::new(&[
            ("job-name", Some(&format!("rome_repro-{}", self.name))),
            ("array", Some(&format!("0-{}", self.tasks.saturating_sub(1)))),
            ("time", Some("01:00:00")),
            ("cpus-per-task", Some("2")),
            ("output", Some(&format!("{}/%x_%A_%a.out", logs.display()))),
            ("open-mode", Some("append")),
            ("signal", Some(&format!("B:TERM@{SIGNAL_AHEAD_S}"))),
            ("requeue", None),
        ]);
        for (k, v) in &self.overrides {
            o.set(k, v.clone());
        }
        o
    }

    /// The aggregation script's default options (the overrides apply, but for `array`,
    /// `signal` and `requeue`, which only mean something for the array).
    fn aggregate_options(&self) -> Options {
        let logs = self.script_dir.join("logs");
        let mut o = Options::new(&[
            ("job-name", Some(&format!("rome_repro-{}-aggregate", self.name))),
            ("time", Some("00:30:00")),
            ("cpus-per-task", Some("2")),
            ("output", Some(&format!("{}/%x_%j.out", logs.display()))),
        ]);
        for (k, v) in self.overrides.iter().filter(|(k, _)| !["array", "signal", "requeue"].contains(&k.as_str())) {
            o.set(k, v.clone());
        }
        if o.get("job-name").is_some() && self.overrides.iter().any(|(k, _)| k == "job-name") {
            let name = o.get("job-name").flatten().unwrap_or("rome_repro").to_string();
            o.set("job-name", Some(format!("{name}-aggregate")));
        }
        o
    }

    fn rome_repro(&self, mode: &str) -> String {
        let mut words = vec![quote(&self.exe.display().to_string())];
        words.extend((!mode.is_empty()).then(|| mode.to_string()));
        words.extend(["--runs-per-task".to_string(), self.runs_per_task.to_string()]);
        words.extend(["--out".to_string(), quote(&self.run_dir.display().to_string())]);
        words.extend(self.matrix_args.iter().map(|a| quote(a)));
        words.push("--quiet".to_string());
        words.join(" ")
    }

    fn array_script(&self) -> String {
        format!(
            r#"#!/bin/bash
{options}# Written by `rome_repro --slurm`: task i trains and evaluates runs i*{k}..(i+1)*{k} of the
# matrix `{name}` ({tasks} tasks, condition-then-seed order) into its run directory, atomically.
# On SIGTERM the task checkpoints its runs in progress and exits; after the warning that
# --signal sends ahead of the time limit it requeues itself and continues from the checkpoints.
# A preemption is requeued by Slurm (--requeue); a scancel is not requeued.
{command} --task "$SLURM_ARRAY_TASK_ID" --threads "${{SLURM_CPUS_PER_TASK:-1}}" &
child=$!

# Seconds in squeue's time format ([days-]hours:minutes:seconds, minutes:seconds); empty if none.
seconds_of() {{
    local t=$1 days=0 h=0 m=0 s=0
    [[ $t =~ ^([0-9]+-)?([0-9]+:)?([0-9]+):([0-9]+)$ ]] || return 1
    days=${{BASH_REMATCH[1]%-}}; h=${{BASH_REMATCH[2]%:}}
    m=${{BASH_REMATCH[3]}}; s=${{BASH_REMATCH[4]}}
    echo $(( 10#${{days:-0}} * 86400 + 10#${{h:-0}} * 3600 + 10#$m * 60 + 10#$s ))
}}

on_term() {{
    kill -TERM "$child" 2>/dev/null || true
    wait "$child"
    status=$?
    left=$(seconds_of "$(squeue -h -j "$SLURM_JOB_ID" -o %L 2>/dev/null)") || left=""
    if [[ -n $left && $left -le {requeue_below} ]]; then
        echo "rome_repro task $SLURM_ARRAY_TASK_ID: $left s left before the time limit; requeueing" >&2
        scontrol requeue "$SLURM_JOB_ID"
    fi
    # {terminated}: stopped by SIGTERM with its runs checkpointed, not a failure (a requeued task
    # must not make the aggregation's afterok dependency fail).
    [[ $status -eq {terminated} ]] && exit 0
    exit "$status"
}}
trap on_term TERM
wait "$child"
"#,
            options = self.array_options().lines(),
            k = self.runs_per_task,
            name = self.name,
            tasks = self.tasks,
            command = self.rome_repro(""),
            requeue_below = 2 * SIGNAL_AHEAD_S + 60,
            terminated = crate::cli::EXIT_TERMINATED,
        )
    }

    fn aggregate_script(&self) -> String {
        format!(
            "#!/bin/bash\n{}# Written by `rome_repro --slurm`: the tables, figures, verdicts and report of the matrix `{}`\n\
             # from the runs its array tasks finished (submit.sh runs it after every task succeeded).\n\
             exec {}\n",
            self.aggregate_options().lines(),
            self.name,
            self.rome_repro("--aggregate"),
        )
    }

    fn submit_script(&self) -> String {
        format!(
            r#"#!/bin/bash
# Written by `rome_repro --slurm`: submits the array job ({tasks} tasks of {k} runs) and the
# aggregation, which runs once every task has succeeded. Arguments are passed to both sbatch
# calls (`./submit.sh --partition=debug`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/logs"
array=$(sbatch --parsable "$@" "$here/array.sbatch")
array=${{array%%;*}}
aggregate=$(sbatch --parsable "$@" --dependency="afterok:$array" --kill-on-invalid-dep=yes "$here/aggregate.sbatch")
aggregate=${{aggregate%%;*}}
echo "array job $array: {tasks} tasks into {run_dir}"
echo "aggregation job $aggregate: after every task of $array succeeded"
echo "array_job=$array aggregate_job=$aggregate"
"#,
            tasks = self.tasks,
            k = self.runs_per_task,
            run_dir = self.run_dir.display(),
        )
    }

    /// Writes `array.sbatch`, `aggregate.sbatch` and `submit.sh` (executable) into the script
    /// directory (created, with its `logs/`); returns their paths.
    pub fn write(&self) -> Result<Vec<PathBuf>, SlurmError> {
        if self.tasks == 0 {
            return Err(SlurmError::NoRuns);
        }
        FsError::create_dir(&self.script_dir.join("logs"))?;
        let files = [
            ("array.sbatch", self.array_script()),
            ("aggregate.sbatch", self.aggregate_script()),
            ("submit.sh", self.submit_script()),
        ];
        let mut paths = Vec::new();
        for (name, text) in files {
            let path = self.script_dir.join(name);
            sim_core::io::write_atomic(&path, text.as_bytes())?;
            set_executable(&path)?;
            paths.push(path);
        }
        Ok(paths)
    }
}

fn set_executable(path: &Path) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|source| FsError::Executable { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_parsed_in_every_form_and_bad_ones_named() {
        for text in ["time=4:00:00", "--time=4:00:00", "#SBATCH --time=4:00:00", "  time = 4:00:00 "] {
            assert_eq!(parse_option(text, "x").unwrap(), ("time".into(), Some("4:00:00".into())), "{text}");
        }
        assert_eq!(parse_option("--requeue", "x").unwrap(), ("requeue".into(), None));
        assert_eq!(parse_option("requeue=", "x").unwrap(), ("requeue".into(), Some(String::new())));
        for bad in ["", "Time=1", "--=3", "ti me=1", "dependency=afterok:1"] {
            let err = parse_option(bad, "my.opts:3").unwrap_err().to_string();
            assert!(err.starts_with("my.opts:3: "), "{bad}: {err}");
        }
        let mut o = Options::new(&[("time", Some("1:00:00")), ("requeue", None)]);
        o.set("time", Some("2:00:00".into()));
        o.set("requeue", Some(String::new()));
        o.set("partition", Some("gpu".into()));
        assert_eq!(o.lines(), "#SBATCH --time=2:00:00\n#SBATCH --partition=gpu\n");
    }

    #[test]
    fn quoting_survives_spaces_and_quotes() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
