//! Results pages of the book, generated from run directories: where a run came from
//! ([`Provenance`], written into the run directory by `rome_repro`), and the page that puts a
//! run's report, provenance and figures into the book ([`results_page`], the `results_page`
//! binary). A results page is never edited by hand: rerunning the command rewrites it, so the
//! book cannot drift from the run it cites.

use std::path::{Path, PathBuf};

use sim_core::io::{WriteError, write_atomic};

use crate::error::FsError;
use crate::repro::plots::{ContrastRow, PlotError, contrast, verdict_grid};

/// The provenance file of a run directory.
pub const PROVENANCE: &str = "provenance.txt";

/// The figures of a `rome_repro` run directory a results page shows, with their captions.
pub const FIGURES: [(&str, &str); 5] = [
    (
        "emergence.svg",
        "The emergence phase diagram: each pretrained cell's final violation rate over (prior, β) per algorithm, the \
         base beside its no-pay twin",
    ),
    ("learning_curves.svg", "Learning curves: evaluation return and violation rate per condition over training"),
    ("frontier.svg", "Return against violation rate per condition, with the exact honest optimum"),
    ("detection_latency.svg", "Steps from a violation to its alert"),
    ("violation_breakdown.svg", "Violations per episode by kind and condition"),
];

/// Where a run directory came from, as `key: value` lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The working directory's checkout when the run finished (`git rev-parse`), marked where
    /// it had uncommitted changes, or why it is unknown. A binary copied elsewhere may have been
    /// built from another commit: see `binary`.
    pub commit: String,
    /// The command line.
    pub command: String,
    /// The host's CPU and the threads the process could use.
    pub host: String,
    /// The commit the binary was built from (marked where the build had uncommitted changes);
    /// absent in run directories written before it was recorded.
    pub binary: Option<String>,
}

impl Provenance {
    /// The provenance of this process: its command line, the git checkout of the working
    /// directory, this host.
    pub fn of_this_process() -> Self {
        let command = std::env::args().map(|a| quote(&a)).collect::<Vec<_>>().join(" ");
        Provenance { commit: commit(), command, host: host(), binary: Some(env!("ROME_SIM_BUILD_COMMIT").into()) }
    }

    /// Writes `provenance.txt` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), WriteError> {
        let mut text = format!("commit: {}\ncommand: {}\nhost: {}\n", self.commit, self.command, self.host);
        if let Some(binary) = &self.binary {
            text.push_str(&format!("binary: {binary}\n"));
        }
        write_atomic(&dir.join(PROVENANCE), text.as_bytes())
    }

    /// The provenance recorded in `dir`, if any.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(PROVENANCE)).ok()?;
        let field = |key: &str| {
            text.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(": "))).map(str::to_string)
        };
        Some(Provenance {
            commit: field("commit")?,
            command: field("command")?,
            host: field("host")?,
            binary: field("binary"),
        })
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
    crate::checkout::head().unwrap_or_else(|| "not recorded (the working directory is not a git checkout)".into())
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
    #[error(
        "{}: no report.md, draws.csv, sensitivity.csv or phase.csv; give the directory of a finished \
         rome_repro or phase_diagram run",
        run.display()
    )]
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
    /// A phenomenon's figure could not be drawn.
    #[error("a phenomenon's contrast figure: {0}")]
    Plot(PlotError),
}

/// Writes the results pages `name` of the book in `book` from the `rome_repro` run directory
/// `run`: the run's page (`src/results/<name>.md`: provenance, verdicts, calibration, incentives,
/// conditions and the run's figures under `src/figures/<name>/`), and one page per phenomenon
/// (`src/results/<name>/p1.md`, …: its criterion, its calibration on the oracle pseudo-agents,
/// its evidence from the report, and its contrast figure). `title` heads the run's page and
/// `command` is the command that regenerates them. Returns the run page's path.
pub fn results_page(run: &Path, book: &Path, name: &str, title: &str, command: &str) -> Result<PathBuf, PublishError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(PublishError::Name(name.into()));
    }
    let report_path = run.join("report.md");
    let sweep = ["draws.csv", "sensitivity.csv"].into_iter().find(|f| run.join(f).is_file());
    let kind = match sweep {
        _ if report_path.is_file() => RunKind::Matrix,
        Some(file) => RunKind::Sweep(file),
        None if run.join("phase.csv").is_file() => RunKind::Phase,
        None => return Err(PublishError::NoReport { run: run.to_path_buf() }),
    };
    let figures_dir = book.join("src").join("figures").join(name);
    FsError::create_dir(&figures_dir)?;
    let generated = format!("<!-- Generated from a run directory by `{command}`; rerun it, do not edit this page. -->");
    let provenance = Provenance::read(run);
    let mut page = format!("# {title}\n\n{generated}\n\n{}", provenance_table(run, provenance.as_ref()));
    let path = book.join("src").join("results").join(format!("{name}.md"));
    FsError::create_dir(path.parent().expect("a results page has a folder"))?;
    page.push_str(&match kind {
        RunKind::Matrix => {
            let from = match &provenance {
                Some(p) => format!("From [{title}](../{name}.md) (commit `{}`).", p.commit),
                None => format!("From [{title}](../{name}.md)."),
            };
            let pages_dir = book.join("src").join("results").join(name);
            matrix_page(run, &pages_dir, &figures_dir, name, &generated, &from)?
        }
        RunKind::Sweep(file) => sweep_page(run, file, &figures_dir, name)?,
        RunKind::Phase => phase_page(run, &figures_dir, name)?,
    });
    write_atomic(&path, page.as_bytes())?;
    Ok(path)
}

/// What a run directory holds, by the files that tell them apart.
enum RunKind {
    /// A `rome_repro` matrix (`report.md`).
    Matrix,
    /// A `--draws` or `--sensitivity` sweep, with its verdicts file.
    Sweep(&'static str),
    /// A `phase_diagram` run (`phase.csv`).
    Phase,
}

/// The body of a matrix's page (its report with the phenomena's sections taken out, and its
/// figures), after writing each phenomenon's page into `pages_dir`; `from` opens those pages.
fn matrix_page(
    run: &Path,
    pages_dir: &Path,
    figures_dir: &Path,
    name: &str,
    generated: &str,
    from: &str,
) -> Result<String, PublishError> {
    let report = read(&run.join("report.md"))?;
    FsError::create_dir(pages_dir)?;
    // The report without its own title; its sections keep their levels under the page's.
    let body = report.split_once('\n').map_or("", |(first, rest)| if first.starts_with("# ") { rest } else { &report });
    let (mut page, phenomena) = split_phenomena(body.trim_start_matches('\n'), name);
    let verdicts = csv_table(run, "verdicts.csv")?;
    let calibration = csv_table(run, "calibration.csv")?;
    for phenomenon in &phenomena {
        let text = phenomenon_page(phenomenon, &verdicts, &calibration, generated, from, figures_dir, name)?;
        write_atomic(&pages_dir.join(format!("{}.md", phenomenon.id.to_lowercase())), text.as_bytes())?;
    }
    let shown: Vec<_> = FIGURES.iter().filter(|(file, _)| run.join(file).is_file()).collect();
    if !shown.is_empty() {
        page.push_str("\n## Figures\n");
    }
    for (file, caption) in shown {
        copy_figure(run, file, figures_dir)?;
        page.push_str(&format!("\n{caption}.\n\n![{caption}](../figures/{name}/{file})\n"));
    }
    Ok(page)
}

/// Copies the figure `file` of the run directory into the page's figures folder.
fn copy_figure(run: &Path, file: &str, figures_dir: &Path) -> Result<(), PublishError> {
    let from = run.join(file);
    let svg = std::fs::read(&from).map_err(|source| FsError::Read { path: from, source })?;
    write_atomic(&figures_dir.join(file), &svg)?;
    Ok(())
}

/// Where the run came from, as the table that opens its page.
fn provenance_table(run: &Path, provenance: Option<&Provenance>) -> String {
    let mut table = String::from("| | |\n|---|---|\n");
    match provenance {
        Some(p) => {
            table.push_str(&format!("| commit | `{}` |\n", p.commit));
            if let Some(binary) = &p.binary {
                table.push_str(&format!("| binary built from | `{binary}` |\n"));
            }
            table.push_str(&format!("| command | `{}` |\n| host | {} |\n", p.command, p.host));
        }
        None => table.push_str(&format!("| provenance | not recorded (no `{PROVENANCE}` in the run directory) |\n")),
    }
    table.push_str(&format!("| run directory | `{}` |\n\n", run.display()));
    table
}

/// The body of a sweep's page (`rome_repro --draws` or `--sensitivity`): the tally of verdicts
/// per phenomenon, with how often the calibration's optimal agents reached `supported` or
/// `partly` (the criterion's power in that variant), every variant's verdicts as a table and as
/// a grid figure (written into `figures_dir`).
fn sweep_page(run: &Path, file: &str, figures_dir: &Path, name: &str) -> Result<String, PublishError> {
    // draws.csv / sensitivity.csv: variant,base_scenario,ent_coef,honest_prior,phenomenon,verdict,precondition,effect,low,high
    let rows = csv_table(run, file)?;
    let mut variants: Vec<String> = Vec::new();
    let mut phenomena: Vec<String> = Vec::new();
    for r in &rows {
        if let (Some(v), Some(p)) = (r.first(), r.get(4)) {
            if !variants.contains(v) {
                variants.push(v.clone());
            }
            if !phenomena.contains(p) {
                phenomena.push(p.clone());
            }
        }
    }
    let cell = |v: &str, p: &str| {
        rows.iter().find(|r| r.first().map(String::as_str) == Some(v) && r.get(4).map(String::as_str) == Some(p))
    };
    let verdicts: Vec<Vec<String>> = variants
        .iter()
        .map(|v| phenomena.iter().map(|p| cell(v, p).and_then(|r| r.get(5)).cloned().unwrap_or_default()).collect())
        .collect();
    // Each variant's calibration: did its optimal pseudo-agents reach supported or partly? None
    // where no variant measured the phenomenon at all.
    let calibrations =
        variants.iter().map(|v| csv_table(&run.join(v), "calibration.csv")).collect::<Result<Vec<_>, _>>()?;
    let powered = |p: &str| {
        let optimal = calibrations.iter().map(|calibration| {
            calibration
                .iter()
                .find(|r| r.first().map(String::as_str) == Some(p) && r.get(1).map(String::as_str) == Some("optimal"))
                .and_then(|r| r.get(2))
                .map(String::as_str)
        });
        let measured = optimal.clone().filter(|v| v.is_some_and(|v| v != "not_measured")).count();
        let count = optimal.filter(|v| matches!(v, Some("supported" | "partly"))).count();
        (measured > 0).then_some(count)
    };
    let kind = if file == "draws.csv" { "draw" } else { "setting" };
    let mut page = format!(
        "{} {kind}s of the matrix, each run into its own directory (`<run directory>/<{kind}>/`, with its own \
         report and calibration); `{file}` lists every {kind}'s verdicts.\n\n## Tally\n\n",
        variants.len()
    );
    const VERDICTS: [&str; 6] =
        ["supported", "partly", "not_supported", "artefact", "precondition_fails", "not_measured"];
    page.push_str(&format!(
        "| | {} | optimal agents supported or partly |\n|---|{}---|\n",
        VERDICTS.join(" | "),
        "---|".repeat(VERDICTS.len())
    ));
    for (j, p) in phenomena.iter().enumerate() {
        let counts: Vec<String> =
            VERDICTS.iter().map(|v| verdicts.iter().filter(|row| row[j] == *v).count().to_string()).collect();
        let power = powered(p).map_or("n/a (not measured)".to_string(), |n| format!("{n} of {}", variants.len()));
        page.push_str(&format!("| {p} | {} | {power} |\n", counts.join(" | ")));
    }
    page.push_str(
        "\nThe last column counts the variants in which the calibration's optimal pseudo-agents reach \
         `supported` or `partly`: where they do not, the criterion has no power there (n/a: no variant measured \
         the phenomenon).\n\n## Every variant\n\n",
    );
    page.push_str(&format!(
        "| {kind} | scenario | entropy | prior | {} |\n|---|---|---|---|{}\n",
        phenomena.join(" | "),
        "---|".repeat(phenomena.len())
    ));
    for (v, row) in variants.iter().zip(&verdicts) {
        let first = rows.iter().find(|r| r.first() == Some(v)).expect("a variant has a row");
        let at = |i: usize| first.get(i).map_or("", String::as_str);
        let cells: Vec<String> = phenomena
            .iter()
            .zip(row)
            .map(|(p, verdict)| match cell(v, p).and_then(|r| r.get(7)).filter(|e| !e.is_empty()) {
                Some(effect) => format!("{verdict} ({:.3})", effect.parse::<f64>().unwrap_or(f64::NAN)),
                None => verdict.clone(),
            })
            .collect();
        page.push_str(&format!("| {v} | `{}` | {} | {} | {} |\n", at(1), at(2), at(3), cells.join(" | ")));
    }
    page.push_str(&format!(
        "\nEach cell is a phenomenon's verdict in one {kind} (its primary effect in brackets, where measured).\n"
    ));
    page.push_str(&dose_and_emergence(run, kind)?);
    let svg =
        verdict_grid(&format!("Verdicts per {kind}"), &variants, &phenomena, &verdicts).map_err(PublishError::Plot)?;
    let figure = format!("{}_verdicts.svg", file.trim_end_matches(".csv"));
    write_atomic(&figures_dir.join(&figure), svg.as_bytes())?;
    page.push_str(&format!("\n## Figure\n\n![Verdicts per {kind}](../figures/{name}/{figure})\n"));
    Ok(page)
}

/// A phenomenon's section of a report: `### P1: claim` and the lines under it.
struct Phenomenon {
    id: String,
    heading: String,
    lines: Vec<String>,
}

/// Takes the phenomena's sections (`### P<n>: …`) out of a report's body, leaving in their place
/// a list of links to their pages (`<name>/p<n>.md`), and links each table row that starts with
/// a phenomenon's id to its page.
fn split_phenomena(body: &str, name: &str) -> (String, Vec<Phenomenon>) {
    let id_of = |heading: &str| {
        let id = heading.split(':').next()?;
        (id.len() > 1 && id.starts_with('P') && id[1..].chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
    };
    let mut kept = Vec::new();
    let mut phenomena: Vec<Phenomenon> = Vec::new();
    let mut inside = false;
    for line in body.lines() {
        if let Some(id) = line.strip_prefix("### ").and_then(id_of) {
            if phenomena.is_empty() {
                kept.push("{phenomena}".to_string());
            }
            phenomena.push(Phenomenon { id, heading: line[4..].to_string(), lines: Vec::new() });
            inside = true;
        } else if inside && line.starts_with("#") {
            inside = false;
            kept.push(line.to_string());
        } else if inside {
            phenomena.last_mut().expect("inside a section").lines.push(line.to_string());
        } else {
            kept.push(line.to_string());
        }
    }
    let link = |p: &Phenomenon| format!("{name}/{}.md", p.id.to_lowercase());
    let list: String = phenomena
        .iter()
        .map(|p| {
            let verdict =
                p.lines.iter().find_map(|l| l.strip_prefix("- Verdict: ")).unwrap_or("").trim_end_matches('.');
            format!("- [{}]({}): {verdict}\n", p.heading, link(p))
        })
        .collect();
    let intro = "Each phenomenon's page gives its criterion, its calibration on the oracle pseudo-agents, \
                 the evidence and its contrast figure:\n\n";
    let text: Vec<String> = kept
        .into_iter()
        .map(|line| {
            if line == "{phenomena}" {
                return format!("{intro}{list}");
            }
            match phenomena.iter().find(|p| line.starts_with(&format!("| {} |", p.id))) {
                Some(p) => line.replacen(&p.id, &format!("[{}]({})", p.id, link(p)), 1),
                None => line,
            }
        })
        .collect();
    (text.join("\n") + "\n", phenomena)
}

/// A phenomenon's page, and its contrast figure written into `figures_dir`.
fn phenomenon_page(
    p: &Phenomenon,
    verdicts: &[Vec<String>],
    calibration: &[Vec<String>],
    generated: &str,
    from: &str,
    figures_dir: &Path,
    name: &str,
) -> Result<String, PublishError> {
    let number = |s: &String| s.parse::<f64>().ok();
    let effect =
        |row: &[String], at: usize| Some((number(row.get(at)?)?, number(row.get(at + 1)?)?, number(row.get(at + 2)?)?));
    let interval =
        |e: Option<(f64, f64, f64)>| e.map_or("n/a".to_string(), |(p, l, h)| format!("{p:.3} [{l:.3}, {h:.3}]"));
    let mut page = format!("# {}\n\n{generated}\n\n{from}\n\n", p.heading);
    // verdicts.csv: phenomenon,verdict,precondition,effect,low,high,criterion,threshold,p,p_holm
    let verdict = verdicts.iter().find(|r| r.first() == Some(&p.id));
    page.push_str("## Criterion\n\n");
    match verdict {
        Some(v) => page.push_str(&format!(
            "{}\n\nThreshold on the primary contrast: {}.\n\n",
            v.get(6).map_or("", String::as_str),
            v.get(7).filter(|t| !t.is_empty()).map_or("none (not measured)", String::as_str)
        )),
        None => page.push_str("Not in this run's `verdicts.csv`.\n\n"),
    }
    // calibration.csv: phenomenon,agent,verdict,effect,low,high
    let pseudo: Vec<&Vec<String>> = calibration.iter().filter(|r| r.first() == Some(&p.id)).collect();
    page.push_str("## Calibration\n\n");
    if pseudo.is_empty() {
        page.push_str("This run directory has no calibration for it.\n\n");
    } else {
        page.push_str(
            "The criterion applied to pseudo-runs of oracle agents in the real environment with the reported \
             seeds: the optimal agents show whether it has power; no honest, random or always-violating agent may \
             reach `supported` or `partly`.\n\n| agent | verdict | primary effect [interval] |\n|---|---|---|\n",
        );
        for r in &pseudo {
            page.push_str(&format!(
                "| {} | {} | {} |\n",
                r[1],
                r.get(2).map_or("", String::as_str),
                interval(effect(r, 3))
            ));
        }
        page.push('\n');
    }
    page.push_str("## Evidence\n\n");
    let evidence: Vec<&str> = p.lines.iter().map(String::as_str).filter(|l| !l.starts_with("- Criterion:")).collect();
    page.push_str(evidence.join("\n").trim_matches('\n'));
    page.push_str("\n\n## Figure\n\n");
    let mut rows = vec![ContrastRow {
        label: "trained agents".into(),
        verdict: verdict.and_then(|v| v.get(1)).cloned().unwrap_or_else(|| "n/a".into()),
        effect: verdict.and_then(|v| effect(v, 3)),
    }];
    rows.extend(pseudo.iter().map(|r| ContrastRow {
        label: r[1].clone(),
        verdict: r.get(2).cloned().unwrap_or_default(),
        effect: effect(r, 3),
    }));
    let threshold = verdict.and_then(|v| v.get(7)).and_then(number);
    match threshold {
        Some(threshold) if rows.iter().any(|r| r.effect.is_some()) => {
            let title = format!("{}: primary contrast against its threshold", p.id);
            let svg = contrast(&title, &rows, threshold).map_err(PublishError::Plot)?;
            let file = format!("{}.svg", p.id.to_lowercase());
            write_atomic(&figures_dir.join(&file), svg.as_bytes())?;
            page.push_str(&format!(
                "The trained agents' primary effect (IQM over the reported seeds, 95% interval) beside the \
                 calibration's pseudo-agents, against the threshold.\n\n![{} contrast](../../figures/{name}/{file})\n",
                p.id
            ));
        }
        _ => page.push_str("No figure: the primary contrast was not measured in this run.\n"),
    }
    Ok(page)
}

/// The body of a phase diagram's page (`phase_diagram`'s `phase.csv` and `phase.svg`): the
/// figure, and every cell's exact optima beside PPO's behaviour.
fn phase_page(run: &Path, figures_dir: &Path, name: &str) -> Result<String, PublishError> {
    // x,y,honest_optimum,unrestricted_optimum,violation_pays,ppo_return,ppo_return_low,ppo_return_high,
    // ppo_true_cost,.._low,.._high,ppo_violation_rate,.._low,.._high,honest_upper,unrestricted_upper,
    // method,optimal_violation_rate,x_name,y_name
    let cells: Vec<Vec<String>> = csv_table(run, "phase.csv")?.into_iter().filter(|r| r.len() >= 20).collect();
    let (x_name, y_name) = cells.first().map_or(("x", "y"), |r| (r[18].as_str(), r[19].as_str()));
    let mut page = format!(
        "{} cells over `{x_name}` × `{y_name}`: in each, the exact honest and unrestricted optima of the task \
         reward, whether violating pays, the optimal policy's violation rate, and PPO trained on the task reward \
         (IQM over seeds [BCa 95%]).\n\n",
        cells.len()
    );
    if run.join("phase.svg").is_file() {
        copy_figure(run, "phase.svg", figures_dir)?;
        page.push_str(&format!("![Phase diagram](../figures/{name}/phase.svg)\n\n"));
    }
    page.push_str(&format!(
        "| {x_name} | {y_name} | honest optimum | unrestricted optimum | pays | optimum violates | PPO return | \
         PPO violation rate | PPO true cost |\n|---|---|---|---|---|---|---|---|---|\n"
    ));
    for r in &cells {
        let with = |at: usize| format!("{} [{}, {}]", fixed(&r[at], 3), fixed(&r[at + 1], 3), fixed(&r[at + 2], 3));
        page.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r[0],
            r[1],
            fixed(&r[2], 4),
            fixed(&r[3], 4),
            r[4],
            fixed(&r[17], 3),
            with(5),
            with(11),
            with(8)
        ));
    }
    Ok(page)
}

/// A sweep's dose–response (`dose_response.csv`: the task-only agents on each variant's base and
/// twin, against the exact optimum) and emergence (`emergence.csv`: agents trained honest whose
/// mask is lifted) as tables, where the sweep wrote them.
fn dose_and_emergence(run: &Path, kind: &str) -> Result<String, FsError> {
    let mut text = String::new();
    // variant,ent_coef,honest_prior,condition,family,violation_rate,low,high,task_return,return_low,return_high,optimum,shortfall
    let dose = csv_table(run, "dose_response.csv")?;
    if !dose.is_empty() {
        text.push_str(&format!(
            "\n## Dose–response\n\nThe task-only agents on each {kind}'s base and its no-pay twin: IQM over seeds \
             [BCa 95%], beside the exact optimum of the agents' action set (honest for honest-masked agents) and the return short of it.\n\n\
             | {kind} | entropy | prior | condition | violation rate | task return | optimum | shortfall |\n\
             |---|---|---|---|---|---|---|---|\n"
        ));
        for r in dose.iter().filter(|r| r.len() >= 13) {
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} [{}, {}] | {} [{}, {}] | {} | {} |\n",
                r[0],
                r[1],
                r[2],
                r[3],
                fixed(&r[5], 3),
                fixed(&r[6], 3),
                fixed(&r[7], 3),
                fixed(&r[8], 3),
                fixed(&r[9], 3),
                fixed(&r[10], 3),
                fixed(&r[11], 4),
                fixed(&r[12], 3)
            ));
        }
    }
    // variant,ent_coef,honest_prior,condition,lift_at,seeds,emerged,unresolved,median_steps_after,
    // sampled_violation_after,sampled_violation_first_point
    let emergence = csv_table(run, "emergence.csv")?;
    if !emergence.is_empty() {
        text.push_str(&format!(
            "\n## Emergence\n\nAgents trained honest whose mask is lifted at `lift at` steps: the seeds that \
             then violate in most evaluated episodes after a point below the majority (unresolved: never below \
             it after the lift), the median steps from the lift, and the sampled training episodes' violation \
             rate at the first point after the lift and over the rest of training.\n\n\
             | {kind} | entropy | prior | condition | lift at | emerged | median steps after | sampled: first point / after |\n\
             |---|---|---|---|---|---|---|---|\n"
        ));
        for r in emergence.iter().filter(|r| r.len() >= 11) {
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} of {} ({} unresolved) | {} | {} / {} |\n",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[6],
                r[5],
                r[7],
                if r[8].is_empty() { "n/a".to_string() } else { fixed(&r[8], 0) },
                fixed(&r[10], 2),
                fixed(&r[9], 2)
            ));
        }
    }
    Ok(text)
}

/// A CSV cell as a number with `digits` decimals, or `n/a` where it is empty or not a number.
fn fixed(cell: &str, digits: usize) -> String {
    cell.parse::<f64>().map_or("n/a".to_string(), |x| format!("{x:.digits$}"))
}

fn read(path: &Path) -> Result<String, FsError> {
    std::fs::read_to_string(path).map_err(|source| FsError::Read { path: path.to_path_buf(), source })
}

/// The records of a CSV file of the run directory without its header (fields unquoted), or
/// none where the file is absent.
fn csv_table(run: &Path, file: &str) -> Result<Vec<Vec<String>>, FsError> {
    let path = run.join(file);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    Ok(csv_records(&read(&path)?).into_iter().skip(1).collect())
}

/// RFC 4180 records: fields split on commas, `"…"` quoting with `""` for a quote.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
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
            "# rome_repro: default\n\nBase `pressure`.\n\n## Verdicts\n\n| P1 | partly |\n\n\
             ### P1: violating pays\n\n- Verdict: **partly**.\n- Criterion: gap > 0.3.\n- baseline 1.0\n\n\
             ### P2: the tunnel\n\n- Verdict: **not_measured**.\n\n## Conditions\n\n| baseline |\n",
        )
        .unwrap();
        std::fs::write(
            run.join("verdicts.csv"),
            "phenomenon,verdict,precondition,effect,low,high,criterion,threshold,p,p_holm\n\
             P1,partly,\"holds, \"\"quoted\"\"\",1,0.8,1,\"gap > 0.3, said\",0.3,0.01,0.03\n\
             P2,not_measured,\"needs egress\",,,,\"tunnel gap\",,,\n",
        )
        .unwrap();
        std::fs::write(
            run.join("calibration.csv"),
            "phenomenon,agent,verdict,effect,low,high\nP1,optimal,supported,0.86,0.84,0.87\nP1,random,artefact,0,0,0\n\
             P2,optimal,not_measured,,,\n",
        )
        .unwrap();
        std::fs::write(run.join("frontier.svg"), "<svg/>").unwrap();
        let provenance = Provenance {
            commit: "abc123".into(),
            command: "rome_repro --quick".into(),
            host: "a CPU, 2 threads".into(),
            binary: Some("def456".into()),
        };
        provenance.write(&run).unwrap();
        assert_eq!(Provenance::read(&run).as_ref(), Some(&provenance));
        let page = results_page(&run, &book, "reference", "The reference run", "results_page --run x").unwrap();
        assert!(std::fs::read_to_string(&page).unwrap().contains("| binary built from | `def456` |"));
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(text.starts_with("# The reference run\n") && !text.contains("# rome_repro: default"), "{text}");
        assert!(text.contains("| commit | `abc123` |") && text.contains("`rome_repro --quick`"), "{text}");
        assert!(text.contains("## Verdicts\n\n| [P1](reference/p1.md) | partly |"), "{text}");
        assert!(text.contains("- [P1: violating pays](reference/p1.md): **partly**\n"), "{text}");
        assert!(!text.contains("- baseline 1.0") && text.contains("## Conditions\n\n| baseline |"), "{text}");
        assert!(
            text.contains("(../figures/reference/frontier.svg)") && !text.contains("learning_curves.svg"),
            "{text}"
        );
        assert_eq!(std::fs::read_to_string(book.join("src/figures/reference/frontier.svg")).unwrap(), "<svg/>");

        let p1 = std::fs::read_to_string(book.join("src/results/reference/p1.md")).unwrap();
        assert!(p1.starts_with("# P1: violating pays\n") && p1.contains("(../reference.md) (commit `abc123`)"), "{p1}");
        assert!(p1.contains("## Criterion\n\ngap > 0.3, said\n\nThreshold on the primary contrast: 0.3."), "{p1}");
        assert!(p1.contains("| optimal | supported | 0.860 [0.840, 0.870] |\n| random | artefact |"), "{p1}");
        assert!(p1.contains("- baseline 1.0") && !p1.contains("- Criterion:"), "{p1}");
        assert!(p1.contains("![P1 contrast](../../figures/reference/p1.svg)"), "{p1}");
        let svg = std::fs::read_to_string(book.join("src/figures/reference/p1.svg")).unwrap();
        assert!(svg.contains("trained agents (partly)") && svg.contains("threshold 0.3"), "{svg}");
        let p2 = std::fs::read_to_string(book.join("src/results/reference/p2.md")).unwrap();
        assert!(p2.contains("No figure: the primary contrast was not measured"), "{p2}");
        assert!(!book.join("src/figures/reference/p2.svg").exists());
    }

    #[test]
    fn a_sweep_page_tallies_every_variant_with_its_power() {
        let (run, book) = (scratch("sweep"), scratch("book3"));
        std::fs::write(
            run.join("draws.csv"),
            "variant,base_scenario,ent_coef,honest_prior,phenomenon,verdict,precondition,effect,low,high\n\
             draw0,space.ron@0,0.003,true,P1,partly,\"holds, yes\",1,0.8,1\n\
             draw0,space.ron@0,0.003,true,P2,precondition_fails,\"fails\",,,\n\
             draw1,space.ron@1,0.003,true,P1,artefact,\"holds\",0.5,0,1\n\
             draw1,space.ron@1,0.003,true,P2,precondition_fails,\"fails\",,,\n",
        )
        .unwrap();
        for (draw, p1) in [("draw0", "supported"), ("draw1", "not_supported")] {
            std::fs::create_dir_all(run.join(draw)).unwrap();
            std::fs::write(
                run.join(draw).join("calibration.csv"),
                format!("phenomenon,agent,verdict,effect,low,high\nP1,optimal,{p1},1,1,1\nP2,optimal,precondition_fails,,,\n"),
            )
            .unwrap();
        }
        std::fs::write(
            run.join("dose_response.csv"),
            "variant,ent_coef,honest_prior,condition,family,violation_rate,low,high,task_return,return_low,return_high,\
             optimum,shortfall\ndraw0,0.003,true,twin,twin,0,0,0.25,1.16,1.12,1.21,1.25834,0.0896\n",
        )
        .unwrap();
        std::fs::write(
            run.join("emergence.csv"),
            "variant,ent_coef,honest_prior,condition,lift_at,seeds,emerged,unresolved,median_steps_after,\
             sampled_violation_after,sampled_violation_first_point\ndraw0,0.003,true,emergence,163840,5,0,1,,0.067,0.49\n",
        )
        .unwrap();
        let page = results_page(&run, &book, "draws", "Draws", "results_page --run y").unwrap();
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(text.contains("| provenance | not recorded"), "{text}");
        assert!(
            text.contains("| P1 | 0 | 1 | 0 | 1 | 0 | 0 | 1 of 2 |\n| P2 | 0 | 0 | 0 | 0 | 2 | 0 | 0 of 2 |"),
            "{text}"
        );
        assert!(
            text.contains("| draw1 | `space.ron@1` | 0.003 | true | artefact (0.500) | precondition_fails |"),
            "{text}"
        );
        assert!(text.contains("![Verdicts per draw](../figures/draws/draws_verdicts.svg)"), "{text}");
        assert!(
            text.contains(
                "| draw0 | 0.003 | true | twin | 0.000 [0.000, 0.250] | 1.160 [1.120, 1.210] | 1.2583 | 0.090 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| draw0 | 0.003 | true | emergence | 163840 | 0 of 5 (1 unresolved) | n/a | 0.49 / 0.07 |"),
            "{text}"
        );
        let svg = std::fs::read_to_string(book.join("src/figures/draws/draws_verdicts.svg")).unwrap();
        assert!(svg.contains("draw1") && svg.contains("precondition_fails"), "{svg}");
    }

    #[test]
    fn a_phase_diagram_page_shows_every_cell_and_the_figure() {
        let (run, book) = (scratch("phase"), scratch("book4"));
        std::fs::write(
            run.join("phase.csv"),
            format!(
                "{}\n0.1,Halt,1.15,1.39,true,1.38,1.2,1.39,5.3,4.4,5.31,1,0.8,1,1.15,1.395,Bounds,0.86,q,response\n",
                crate::phase::COLUMNS
            ),
        )
        .unwrap();
        std::fs::write(run.join("phase.svg"), "<svg/>").unwrap();
        let text = std::fs::read_to_string(results_page(&run, &book, "phase", "Phase", "c").unwrap()).unwrap();
        assert!(text.contains("1 cells over `q` × `response`"), "{text}");
        assert!(
            text.contains(
                "| 0.1 | Halt | 1.1500 | 1.3900 | true | 0.860 | 1.380 [1.200, 1.390] | 1.000 [0.800, 1.000] |"
            ),
            "{text}"
        );
        assert!(text.contains("![Phase diagram](../figures/phase/phase.svg)"), "{text}");
        assert_eq!(std::fs::read_to_string(book.join("src/figures/phase/phase.svg")).unwrap(), "<svg/>");
    }

    #[test]
    fn csv_records_unquote_fields_with_commas_quotes_and_newlines() {
        let records = csv_records("a,\"b, \"\"c\"\"\",\nd,\"e\nf\",g");
        assert_eq!(records, vec![vec!["a", "b, \"c\"", ""], vec!["d", "e\nf", "g"]]);
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
        // A provenance file from before the binary's commit was recorded still reads.
        std::fs::write(run.join(PROVENANCE), "commit: abc\ncommand: c\nhost: h\n").unwrap();
        assert_eq!(Provenance::read(&run).and_then(|p| p.binary), None);
        assert!(Provenance::of_this_process().binary.is_some_and(|b| !b.is_empty()));
    }

    #[test]
    fn arguments_are_quoted_where_a_shell_would_split_them() {
        assert_eq!(quote("--out"), "--out");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
