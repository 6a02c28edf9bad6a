//! The printer that owns all output: data on stdout, messages and progress on stderr, colour only
//! on a terminal (honouring `NO_COLOR` and `--color`), `-q` and `-v`. While progress bars are
//! drawn ([`Printer::attach`]), every line it prints goes above them, so bars and messages
//! never interleave.

use super::{ColorWhen, GlobalArgs};
use anstream::ColorChoice;
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

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
    /// The progress bars on the terminal while an apply draws them: stderr lines are written
    /// with the bars cleared and then redrawn below them.
    bars: Arc<Mutex<Option<indicatif::MultiProgress>>>,
}

impl Printer {
    pub(crate) fn new(global: &GlobalArgs) -> Printer {
        let choice = match global.color {
            ColorWhen::Auto => ColorChoice::Auto,
            ColorWhen::Always => ColorChoice::Always,
            ColorWhen::Never => ColorChoice::Never,
        };
        choice.write_global();
        Printer { quiet: global.quiet, verbose: global.verbose, bars: Arc::default() }
    }

    /// Hands the terminal to progress bars: until [`Printer::detach`], stderr lines go above
    /// them.
    pub(crate) fn attach(&self, bars: indicatif::MultiProgress) {
        *self.bars.lock().unwrap_or_else(PoisonError::into_inner) = Some(bars);
    }

    /// Takes the terminal back from the bars.
    pub(crate) fn detach(&self) {
        *self.bars.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Writes to stderr, above the bars when there are some.
    fn to_stderr(&self, write: impl FnOnce(&mut dyn Write)) {
        let bars = self.bars.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match bars {
            Some(bars) => bars.suspend(|| write(&mut anstream::stderr())),
            None => write(&mut anstream::stderr()),
        }
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
    /// Data written by `write` as it is made (a plan of a large fleet): the same as
    /// [`Printer::data`] without holding the whole text first. Plain text goes to stdout through a
    /// buffer; coloured text through the colour-aware stream.
    pub(crate) fn data_stream(&self, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
        let result = if self.stdout_color() {
            let mut out = anstream::stdout().lock();
            write(&mut out).and_then(|()| out.flush())
        } else {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            write(&mut out).and_then(|()| out.flush())
        };
        // Like `data`: a closed stdout (`pgfleet plan | head`) is not an error of the command.
        let _ = result;
    }

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
        self.to_stderr(|err| {
            let _ = writeln!(err, "{text}");
        });
    }

    /// Whether `-q` was given.
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A message for people on stderr, hidden by `-q`.
    pub(crate) fn info(&self, text: &str) {
        if !self.quiet {
            self.to_stderr(|err| {
                let _ = writeln!(err, "{text}");
            });
        }
    }

    /// Detail shown only with `-v`.
    pub(crate) fn debug(&self, text: &str) {
        if self.verbose {
            self.to_stderr(|err| {
                let _ = writeln!(err, "debug: {text}");
            });
        }
    }

    /// A warning on stderr, hidden by `-q`.
    pub(crate) fn warn(&self, text: &str) {
        if !self.quiet {
            let style = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Yellow.into())).bold();
            self.to_stderr(|err| {
                let _ = writeln!(err, "{style}warning{style:#}: {text}");
            });
        }
    }

    /// Pre-rendered text for stderr (diagnostics), always printed.
    pub(crate) fn stderr_raw(&self, text: &str) {
        self.to_stderr(|err| {
            let _ = write!(err, "{text}");
        });
    }

    /// An error and its causes, one `caused by:` line each, then any `hint:` lines the error
    /// carries in its message.
    pub(crate) fn error_chain(&self, error: &anyhow::Error) {
        let style = anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Red.into())).bold();
        self.to_stderr(|err| {
            let _ = writeln!(err, "{style}error{style:#}: {error}");
            for cause in error.chain().skip(1) {
                let _ = writeln!(err, "  caused by: {cause}");
            }
        });
    }
}
