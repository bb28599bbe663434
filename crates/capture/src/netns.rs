//! Running code inside a named network namespace.
//!
//! Owns: entering `/run/netns/<name>` (the place `ip netns add` creates) on a dedicated OS
//! thread. A socket keeps the namespace it was created in for its whole life, whichever thread
//! uses it later, so the pattern is: create sockets inside [`in_netns`], return them, use them
//! anywhere (including from tokio tasks).
//! Never: creates or deletes namespaces, and never changes the namespace of the calling thread
//! (setns on a tokio worker would move unrelated tasks into the lab network).
//! Follows: setns(2), ip-netns(8).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where `ip netns` keeps its namespace handles.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The handle file of namespace `name`.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Whether `ip netns add <name>` has created the namespace.
pub fn exists(name: &str) -> bool {
    valid_name(name) && netns_path(name).exists()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Run `f` on a fresh OS thread that has joined the network namespace `/run/netns/<name>`
/// (open the file, `setns(fd, CLONE_NEWNET)`); sockets created inside stay in that namespace
/// when used from any thread afterwards. Errors name the namespace. A panic in `f` is
/// propagated to the caller.
pub fn in_netns<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    if !valid_name(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid network namespace name {name:?}"),
        ));
    }
    let ns = name.to_owned();
    let path = netns_path(name);
    let handle = std::thread::Builder::new()
        .name(format!("netns-{name}"))
        .spawn(move || -> io::Result<T> {
            let file = File::open(&path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "network namespace {ns}: cannot open {}: {e}",
                        path.display()
                    ),
                )
            })?;
            // SAFETY: `file` is an open descriptor for the duration of the call; setns only
            // changes the namespace of this (fresh, private) thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("network namespace {ns}: setns failed: {e}"),
                ));
            }
            f()
        })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("network namespace {name}: cannot spawn thread: {e}"),
            )
        })?;
    match handle.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_namespace_error_names_it() {
        let name = format!("pc-capture-missing-{}", std::process::id());
        let err = in_netns(&name, || Ok(())).expect_err("namespace does not exist");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains(&name), "{err}");
    }

    #[test]
    fn rejects_path_like_names() {
        let err = in_netns("../etc", || Ok(())).expect_err("path traversal refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(!exists("../etc"));
    }
}
