//! The printer that owns all output: data on stdout, messages and progress on stderr, colour only
//! on a terminal (honouring `NO_COLOR` and `--color`), `-q` and `-v`.

use super::{ColorWhen, GlobalArgs};
use anstream::ColorChoice;
use std::io::Write;
use std::process::ExitCode;

/// How a command ended, mapped to DESIGN.md's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 0: success, or no changes.
    Success,
    /// 1: an error (reported before returning).
    Error,
    /// 2: changes present (`plan --detailed-exitcode`).
    Changes,
    /// 3: the plan is blocked (for example a delete without `--allow-delete`).
    Blocked,
}

impl Outcome {
    pub(crate) fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Outcome::Success => 0,
            Outcome::Error => 1,
            Outcome::Changes => 2,
            Outcome::Blocked => 3,
        })
    }
}

/// Writes everything pgfleet prints.
#[derive(Debug, Clone)]
pub(crate) struct Printer {
    quiet: bool,
    verbose: bool,
}

impl Printer {
    pub(crate) fn new(global: &GlobalArgs) -> Printer {
        let choice = match global.color {
            ColorWhen::Auto => ColorChoice::Auto,
            ColorWhen::Always => ColorChoice::Always,
            ColorWhen::Never => ColorChoice::Never,
        };
        choice.write_global();
        Printer { quiet: global.quiet, verbose: global.verbose }
    }

    /// Whether stderr gets colour (a terminal, no `NO_COLOR`, or `--color always`).
    pub(crate) fn stderr_color(&self) -> bool {
        !matches!(anstream::AutoStream::choice(&std::io::stderr()), ColorChoice::Never)
    }

    /// Whether stdout gets colour.
    pub(crate) fn stdout_color(&self) -> bool {
        !matches!(anstream::AutoStream::choice(&std::io::stdout()), ColorChoice::Never)
    }

    /// Data for scripts and people (plans, JSON, state): always printed, on stdout.
    pub(crate) fn data(&self, text: &str) {
        let mut out = anstream::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// A command's final word for people on stderr (an apply's summary): shown even with `-q`,
    /// which keeps only errors and this.
    pub(crate) fn result(&self, text: &str) {
        let _ = writeln!(anstream::stderr(), "{text}");
    }

    /// Whether `-q` was given.
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A message for people on stderr, hidden by `-q`.
    pub(crate) fn info(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(anstream::stderr(), "{text}");
        }
    }

    /// Detail shown only with `-v`.
    pub(crate) fn debug(&self, text: &str) {
        if self.verbose {
            let _ = writeln!(anstream::stderr(), "debug: {text}");
        }
    }

    /// A warning on stderr, hidden by `-q`.
    pub(crate) fn warn(&self, text: &str) {
        if !self.quiet {
            let style = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Yellow.into())).bold();
            let _ = writeln!(anstream::stderr(), "{style}warning{style:#}: {text}");
        }
    }

    /// Pre-rendered text for stderr (diagnostics), always printed.
    pub(crate) fn stderr_raw(&self, text: &str) {
        let _ = write!(anstream::stderr(), "{text}");
    }

    /// An error and its causes, one `caused by:` line each, then any `hint:` lines the error
    /// carries in its message.
    pub(crate) fn error_chain(&self, error: &anyhow::Error) {
        let style = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Red.into())).bold();
        let mut err = anstream::stderr();
        let _ = writeln!(err, "{style}error{style:#}: {error}");
        for cause in error.chain().skip(1) {
            let _ = writeln!(err, "  caused by: {cause}");
        }
    }
}
