//! The `pgfleet` binary: parse the command line, run, map the outcome to an exit code.

/// mimalloc instead of the system allocator: planning a large fleet is mostly small
/// allocations (names, attribute values, reasons), where glibc's malloc spent a third of the
/// time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pgfleet::cli::main()
}
