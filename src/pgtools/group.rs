//! A child tool runs in a process group of its own, and that whole group dies with pgfleet.
//!
//! Why a group of its own: the terminal sends Ctrl-C (SIGINT) to its foreground process group.
//! A tool in pgfleet's group died at the first Ctrl-C (a `pg_restore` in the middle of a
//! migration), although pgfleet promises that running steps finish; in a group of its own only
//! pgfleet hears it and decides.
//!
//! Why more than `PR_SET_PDEATHSIG`: the kernel sends the death signal to the direct child only.
//! `initdb` runs `postgres` in bootstrap and single-user mode as *its* children; killed with
//! pgfleet, initdb left them running, and the next create found "single-user server is
//! running" in the directory it rebuilds. So a tool gets a watchdog: a tiny process, forked
//! before the tool's `exec`, that waits (on a pidfd) for the tool to end and then kills the
//! tool's whole process group. The watchdog is nobody's child but init's (or a subreaper's), so
//! a tool that waits for all of its children never waits for it; being a member of the group,
//! it keeps the group's id from being reused while it waits, so it can never kill a stranger.
//! Costs: two forks per tool, and a copy-on-write image of pgfleet per running tool; where
//! nothing reaps orphans (pgfleet as PID 1 of a container without an init), each ended
//! watchdog stays a zombie until pgfleet exits.
//!
//! Must not: touch the servers the local provider runs as the fleet. `pg_ctl` is the one tool
//! whose child is meant to outlive it (the postmaster of `pg_ctl start`), so it gets the group
//! and the death signal but no watchdog ([`Descendants::Outlive`]): a fork clears the death
//! signal, and the postmaster keeps running whatever happens to pg_ctl, as servers do.
//!
//! Linux only; elsewhere only the process group is set. Without `pidfd_open` (kernels before
//! 5.3, or a seccomp profile refusing it) the watchdog gives up and the direct child keeps its
//! death signal; the local provider also ends a standalone backend left in a data directory
//! before rebuilding it (`providers::local::cluster`).

use tokio::process::Command;

/// What happens to the processes a tool leaves in its process group when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descendants {
    /// They are killed as soon as the tool ends, however it ends (initdb's bootstrap and
    /// single-user servers, pg_dump's and pg_restore's workers, pg_basebackup's WAL streamer).
    EndWithTool,
    /// They are left alone: `pg_ctl start`'s postmaster is a server, not a leftover.
    Outlive,
}

/// Makes `command` start its tool in a process group of its own that ends with pgfleet: when
/// pgfleet is killed outright (SIGKILL, the OOM killer) the tool gets SIGKILL, and with
/// [`Descendants::EndWithTool`], when the tool ends (that way, by `kill_on_drop`, or normally)
/// every process left in its group is killed.
///
/// The death signal follows the *thread* that started the child: tools are started from the
/// runtime's threads, which live as long as pgfleet's work. The hook runs after the switch to
/// the cluster user (which would clear it) and fails at once if pgfleet is already gone.
pub fn end_with_pgfleet(command: &mut Command, descendants: Descendants) {
    command.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id();
        let watch = descendants == Descendants::EndWithTool;
        // SAFETY: the hook makes only async-signal-safe system calls and does not allocate
        // (see `linux`); it runs in the single-threaded child between fork and exec.
        unsafe {
            command.pre_exec(move || {
                linux::die_with_parent(parent)?;
                if watch { linux::start_watchdog() } else { Ok(()) }
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = descendants;
}

/// The system calls of the hook. Everything here runs in the child std forked to exec a tool:
/// one thread, pgfleet's memory copied, and only async-signal-safe calls allowed (no
/// allocation, no locks, no std I/O).
#[cfg(target_os = "linux")]
mod linux {
    use std::io;

    fn errno() -> i32 {
        // SAFETY: reads this thread's errno.
        unsafe { *libc::__errno_location() }
    }

    /// The death signal, then a check that pgfleet did not die before it was set.
    pub(super) fn die_with_parent(parent: u32) -> io::Result<()> {
        // SAFETY: plain system calls.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        Ok(())
    }

    /// Forks the watchdog through an intermediate process that exits at once, so that the
    /// watchdog is re-parented to init (or a subreaper) and is never the tool's child. Returns
    /// once the watchdog exists, so it is in the group before the tool runs.
    ///
    /// `fork` here is glibc's: async-signal-safe by POSIX.1-2008, and its only fork handlers
    /// (glibc's own; pgfleet registers none) take locks that the fork which made this child
    /// has just reset, in a process with no other thread to hold them.
    pub(super) fn start_watchdog() -> io::Result<()> {
        // SAFETY: async-signal-safe calls only, in the single-threaded child.
        unsafe {
            let tool = libc::getpid();
            // pgfleet's SIGCHLD handler was inherited: the intermediate's exit must not run it.
            // (exec resets a handled signal to the default anyway.)
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            let intermediate = libc::fork();
            if intermediate < 0 {
                return Err(io::Error::last_os_error());
            }
            if intermediate == 0 {
                if libc::fork() == 0 {
                    watchdog(tool);
                }
                libc::_exit(0);
            }
            let mut status = 0;
            while libc::waitpid(intermediate, &mut status, 0) < 0 {
                if errno() != libc::EINTR {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }

    /// The watchdog: holds nothing open, blocks every signal it can, waits for `tool` to end,
    /// then kills the process group it shares with the tool (itself included).
    fn watchdog(tool: libc::pid_t) -> ! {
        // SAFETY: raw system calls only, in a process that never returns to Rust code.
        unsafe {
            let mut all = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigfillset(all.as_mut_ptr());
            libc::sigprocmask(libc::SIG_SETMASK, all.as_ptr(), std::ptr::null_mut());
            // The tool's pipes (its output, std's exec-error pipe) must reach end-of-file when
            // the tool ends, not when the watchdog does.
            if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
                // Before Linux 5.9: every descriptor the limit allows (a pipe of another tool
                // kept open here would delay that tool's end-of-file too).
                let mut limit = libc::rlimit { rlim_cur: 1024, rlim_max: 1024 };
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
                for descriptor in 0..limit.rlim_cur.min(1 << 20) as libc::c_int {
                    libc::close(descriptor);
                }
            }
            // The tool's pid cannot be reused while this process is in the group it leads, so
            // the pidfd is the tool's, or there is none because the tool is already reaped.
            let pidfd = libc::syscall(libc::SYS_pidfd_open, tool, 0u32) as libc::c_int;
            if pidfd >= 0 {
                let mut ended = libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 };
                loop {
                    let ready = libc::poll(&mut ended, 1, -1);
                    if ready > 0 {
                        break;
                    }
                    if ready < 0 && errno() != libc::EINTR {
                        // Cannot watch: leave the tool to its death signal alone.
                        libc::_exit(0);
                    }
                }
            } else if errno() != libc::ESRCH {
                // No pidfd here: leave the tool to its death signal alone.
                libc::_exit(0);
            }
            libc::kill(0, libc::SIGKILL);
            libc::_exit(0)
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::{Descendants, end_with_pgfleet};
    use std::time::Duration;

    /// The pid of a live (not zombie) process whose command line is exactly `needle` (its
    /// arguments joined by spaces), if any.
    fn process_running(needle: &str) -> Option<u32> {
        std::fs::read_dir("/proc").ok()?.filter_map(Result::ok).find_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (cmdline.trim_end() == needle).then_some(pid)
        })
    }

    /// Starts `sh -c SCRIPT` as a tool; `SCRIPT` starts `marker` in the background and prints
    /// its pid first. Returns the tool and that pid once `marker` runs.
    async fn tool_with_grandchild(marker: &str, rest: &str) -> (tokio::process::Child, u32) {
        let mut command = tokio::process::Command::new("sh");
        command
            .args(["-c", &format!("{marker} & echo $!; {rest}")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        end_with_pgfleet(&mut command, Descendants::EndWithTool);
        let mut child = command.spawn().unwrap();
        let tool = child.id().unwrap();
        // SAFETY: getpgid has no preconditions.
        assert_eq!(unsafe { libc::getpgid(tool as libc::pid_t) }, tool as libc::pid_t, "a group of its own");
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line).await.unwrap();
        let grandchild: u32 = line.trim().parse().unwrap();
        wait_until(|| process_running(marker) == Some(grandchild), "the grandchild never started").await;
        (child, grandchild)
    }

    async fn wait_until(condition: impl Fn() -> bool, failure: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !condition() {
            assert!(tokio::time::Instant::now() < deadline, "{failure}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Ends a leftover of a failed test.
    fn kill_leftover(pid: u32) {
        // SAFETY: kill(2); at worst the process is already gone.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }

    /// A grandchild left by a tool that was killed (as initdb's single-user postgres was) dies
    /// with the tool's group, and the tool had a group of its own.
    #[tokio::test]
    async fn a_killed_tools_own_children_die_with_it() {
        // A command line no other process has: `sleep` takes fractional seconds.
        let marker = format!("sleep 6000.{}", std::process::id());
        let (mut child, grandchild) = tool_with_grandchild(&marker, "wait").await;
        child.kill().await.unwrap();
        // A killed process is a zombie (empty command line) until reaped: gone for this test.
        let gone = tokio::time::timeout(Duration::from_secs(30), async {
            while process_running(&marker).is_some() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let outlived = gone.await.is_err();
        kill_leftover(grandchild);
        assert!(!outlived, "the grandchild outlived the tool");
    }

    /// A tool that ends by itself leaves nothing running in its group either.
    #[tokio::test]
    async fn a_finished_tools_leftovers_are_ended() {
        let marker = format!("sleep 6001.{}", std::process::id());
        // The tool ends once told to (a line on its stdin), after the test saw the leftover.
        let (mut child, grandchild) = tool_with_grandchild(&marker, "read go; exit 0").await;
        let mut stdin = child.stdin.take().unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, b"go\n").await.unwrap();
        assert!(child.wait().await.unwrap().success());
        let gone = tokio::time::timeout(Duration::from_secs(30), async {
            while process_running(&marker).is_some() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let outlived = gone.await.is_err();
        kill_leftover(grandchild);
        assert!(!outlived, "the background process outlived the tool that started it");
    }
}
