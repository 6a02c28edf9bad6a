//! `pgfleet fmt [FILE…] [--check]`: rewrites fleet files in the canonical layout
//! (`config::format`: keys in a stable order, comments kept), printing the name of each file it
//! changed, as `terraform fmt` does. With `--check` it writes nothing, lists the files that are
//! not formatted and exits 1 when there is one. A file that is not TOML is an error and is left
//! as it is.

use super::{GlobalArgs, Outcome, Printer};
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct FmtArgs {
    /// The files to format (default: the fleet file, `-c`).
    pub files: Vec<PathBuf>,
    /// Write nothing: list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
    /// Print what would change as a diff.
    #[arg(long)]
    pub diff: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: &FmtArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let files = if args.files.is_empty() { vec![global.config.clone()] } else { args.files.clone() };
    let mut unformatted = 0;
    for path in &files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the fleet file {}", path.display()))?;
        let formatted = crate::config::format(&text).with_context(|| {
            format!("{} is not TOML, so it was not formatted; `pgfleet validate` shows where", path.display())
        })?;
        if formatted == text {
            continue;
        }
        unformatted += 1;
        printer.data(&path.display().to_string());
        if args.diff {
            let diff = similar::TextDiff::from_lines(&text, &formatted);
            let name = path.display().to_string();
            printer.data(&diff.unified_diff().header(&name, &name).to_string());
        }
        if !args.check {
            super::import::write_file(path, &formatted)
                .with_context(|| format!("could not write {}", path.display()))?;
        }
    }
    Ok(if args.check && unformatted > 0 { Outcome::Error } else { Outcome::Success })
}
