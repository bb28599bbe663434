//! The phone's persistent state: which application (firmware) is installed.
//!
//! Owns the `--state-dir` files: `simphone-state.json` (`{"app_name":…,"version":…}`),
//! written atomically (temp file + rename) so a crash never leaves half a state, plus the
//! download area (`download.part` while verifying, `installed.bin` after install).
//! Without a state dir the state lives in memory for the life of the process.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const STATE_FILE: &str = "simphone-state.json";
const DOWNLOAD_FILE: &str = "download.part";
const INSTALLED_FILE: &str = "installed.bin";

/// What is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub app_name: String,
    pub version: Option<String>,
    /// The boot code installed since the first boot (`$BOOTNAME`); `None`: the one the
    /// phone came with.
    #[serde(default)]
    pub boot_name: Option<String>,
}

/// State storage: a directory, or memory only.
#[derive(Debug, Clone)]
pub struct Store {
    dir: Option<PathBuf>,
    memory: Option<Installed>,
}

impl Store {
    pub fn new(dir: Option<PathBuf>) -> io::Result<Self> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)?;
        }
        Ok(Self { dir, memory: None })
    }

    /// The installed application, if one was recorded.
    pub fn load(&self) -> Option<Installed> {
        if let Some(m) = &self.memory {
            return Some(m.clone());
        }
        let dir = self.dir.as_ref()?;
        let text = std::fs::read_to_string(dir.join(STATE_FILE)).ok()?;
        match serde_json::from_str(&text) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "state file unreadable, using --firmware");
                None
            }
        }
    }

    /// Record a newly installed application (atomic on disk).
    pub fn save(&mut self, installed: &Installed) -> io::Result<()> {
        self.memory = Some(installed.clone());
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(installed).map_err(io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(STATE_FILE))
    }

    /// Keep a downloaded image while it is verified; returns where it went (if on disk).
    pub fn stage_download(&self, bytes: &[u8]) -> io::Result<Option<PathBuf>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let p = dir.join(DOWNLOAD_FILE);
        std::fs::write(&p, bytes)?;
        Ok(Some(p))
    }

    /// Delete a rejected download.
    pub fn discard_download(&self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_file(dir.join(DOWNLOAD_FILE));
        }
    }

    /// Move a verified download into place.
    pub fn commit_download(&self) -> io::Result<()> {
        match &self.dir {
            Some(dir) => std::fs::rename(dir.join(DOWNLOAD_FILE), dir.join(INSTALLED_FILE)),
            None => Ok(()),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("simphone-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn state_survives_a_new_store_and_downloads_are_staged_then_removed() {
        let d = tmpdir("a");
        let mut s = Store::new(Some(d.clone())).expect("dir");
        assert_eq!(s.load(), None);
        let inst = Installed {
            boot_name: None,
            app_name: "S96x0_SALBR2_7_0_0.bin".into(),
            version: Some("2.7.0.0".into()),
        };
        s.save(&inst).expect("save");
        assert_eq!(Store::new(Some(d.clone())).expect("dir").load(), Some(inst));
        assert!(!d.join("simphone-state.json.tmp").exists());
        let p = s.stage_download(b"img").expect("stage").expect("on disk");
        assert!(p.exists());
        s.discard_download();
        assert!(!p.exists());
        s.stage_download(b"img").expect("stage");
        s.commit_download().expect("commit");
        assert!(d.join("installed.bin").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn memory_store_keeps_state_for_the_process() {
        let mut s = Store::new(None).expect("memory");
        let inst = Installed {
            app_name: "x.bin".into(),
            version: None,
            boot_name: Some("hb96xxua3_00.bin".into()),
        };
        s.save(&inst).expect("save");
        assert_eq!(s.load(), Some(inst));
        assert_eq!(s.stage_download(b"x").expect("ok"), None);
    }
}
