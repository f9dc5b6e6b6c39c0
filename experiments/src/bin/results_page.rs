//! Writes a results page of the book from a `rome_repro` run directory: its report, where it
//! came from (commit, command, host) and its figures, as `docs/src/results/<name>.md` and
//! `docs/src/figures/<name>/`, with a page per phenomenon under `docs/src/results/<name>/`; or,
//! from a sweep's directory (`--draws`, `--sensitivity`), its tally and every variant's verdicts;
//! from a `phase_diagram` directory, its figure and cells.
//! Results pages are regenerated this way, never edited by hand.
//!
//! `cargo run --release -p experiments --bin results_page -- --run runs/rome_repro__default__1765100000`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use experiments::publish::results_page;

/// Write a results page of the book from a rome_repro run directory.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The run directory (a finished `rome_repro` run, a `--draws`/`--sensitivity` sweep, or a
    /// `phase_diagram` run).
    #[arg(long)]
    run: PathBuf,
    /// The page's name: `docs/src/results/<name>.md`.
    #[arg(long, default_value = "reference")]
    name: String,
    /// The page's title.
    #[arg(long, default_value = "The reference run")]
    title: String,
    /// The book's folder.
    #[arg(long, default_value = "docs")]
    book: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut command = format!("cargo run --release -p experiments --bin results_page -- --run {}", args.run.display());
    if args.name != "reference" {
        command.push_str(&format!(" --name {}", args.name));
    }
    match results_page(&args.run, &args.book, &args.name, &args.title, &command) {
        Ok(page) => {
            println!("page: {}", page.display());
            ExitCode::SUCCESS
        }
        Err(e) => experiments::cli::fail(e),
    }
}
