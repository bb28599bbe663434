//! Child processes that die with the harness, even when the harness is killed with SIGKILL.
//!
//! Owns: starting every child of the harness (the reference phone, a `--dut-cmd`, the `ip`
//! commands of the netns lab) with `PR_SET_PDEATHSIG` = SIGKILL set between fork and exec,
//! and forking long-running children from one thread that lives as long as the process.
//!
//! Why a thread of its own: the kernel sends the parent-death signal when the *thread* that
//! forked the child ends, not the process (prctl(2), PR_SET_PDEATHSIG). tokio may fork from a
//! worker or a blocking-pool thread, and blocking-pool threads end after a while idle; a
//! phone forked there would be killed in the middle of a scenario. The spawner thread below
//! never returns, so the signal comes exactly when the process goes.
//!
//! What this cannot reach: a child's own children (what a `--dut-cmd` shell starts) do not
//! inherit the setting. At a scenario's end they go with the shell's process group, and
//! whatever left the group (a daemon) goes when the lab kills every process in its
//! namespaces before deleting them. Only when the harness itself is killed with SIGKILL do
//! they outlive it, until a later run's removal of stale labs (`lab::remove_stale`) kills
//! them the same way.
//!
//! Never: decides when a child stops (the DUT adapters and the lab do), reads its output.
//! Follows: prctl(2) PR_SET_PDEATHSIG, fork(2) ("the parent-death signal setting is cleared
//! for the child of a fork"), execve(2) (it is kept across exec of a non-set-user-ID program).

use std::io;
use std::os::unix::process::CommandExt;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

/// Arms `cmd` so that its process gets SIGKILL when the thread that forks it ends.
///
/// Also closes the race where the harness dies between fork and prctl: the child then sees
/// that its parent is no longer the harness and exits at once.
pub fn die_with_parent(cmd: &mut std::process::Command) {
    // SAFETY: getpid is async-signal-safe and has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and calls only prctl, getppid
    // and _exit, which are async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

/// Starts `cmd` (already armed with [`die_with_parent`] by this function) from the spawner
/// thread, inside the tokio runtime of the caller. Call it from within a runtime.
pub fn spawn_tied(mut cmd: tokio::process::Command) -> io::Result<tokio::process::Child> {
    die_with_parent(cmd.as_std_mut());
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|e| io::Error::other(format!("no async runtime to start a child in: {e}")))?;
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _in_runtime = runtime.enter();
        let _ = tx.send(cmd.spawn());
    });
    // The caller waits for fork and exec only (std reports a failed exec through a pipe);
    // that is short enough to do on an async thread.
    spawner()
        .lock()
        .map_err(|_| io::Error::other("the spawner thread's queue is poisoned"))?
        .send(job)
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
}

/// The queue of the spawner thread, started on first use.
fn spawner() -> &'static Mutex<mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("phonecert-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        if let Err(e) = started {
            // Without the thread every request fails with "the spawner thread is gone".
            tracing::error!("cannot start the spawner thread: {e}");
        }
        Mutex::new(tx)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child started through `spawn_tied` keeps running after the thread that asked for it
    /// has ended (as tokio's blocking-pool threads do): forked from that thread, its
    /// parent-death signal would have killed it then.
    #[test]
    fn a_tied_child_outlives_the_thread_that_asked_for_it() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt.handle().clone();
        let mut child = std::thread::spawn(move || {
            let _g = handle.enter();
            let mut cmd = tokio::process::Command::new("sleep");
            cmd.arg("30").kill_on_drop(true);
            spawn_tied(cmd).expect("spawn sleep")
        })
        .join()
        .expect("asking thread");
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the child died with the thread that asked for it"
        );
        drop(child);
        drop(rt);
    }
}
