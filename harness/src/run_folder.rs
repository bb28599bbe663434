//! The run's folders on disk: `captures/<run-id>/` and `reports/<run-id>/` under the output
//! root, and `reports/latest`.
//!
//! Owns: claiming a run id that no other run has (the folders are created atomically, so two
//! runs started in the same second, in one process or two, never share one), the paths that
//! reports store and how they are read back, the copy of each scenario (and its fixtures)
//! kept in the run folder, and pointing `reports/latest` at a run without racing another run.
//!
//! Paths stored inside a run folder are relative, so a copied folder stands alone:
//! - `report.json`'s `timeline` and `dut_log` are relative to the run folder
//!   (`timelines/BOOT-001.json`, `dut/BOOT-001.log`), and so is a timeline's
//!   `scenario_file` (`scenarios/BOOT-001/boot/first-boot-upgrade.toml`);
//! - `capture` is relative to the output root, the folder that holds `captures/` and
//!   `reports/` (`captures/<run-id>/BOOT-001.pcapng`, design.md §4): it is found again as
//!   `<run folder>/../../<capture>`. To move a run with its captures, copy
//!   `reports/<run-id>` and `captures/<run-id>` into a new root; `phonecert judge` needs only
//!   the run folder.
//!
//! Never: writes reports (the report module does) or judges.

use std::path::{Component, Path, PathBuf};

/// The folders of one run, claimed for it alone.
#[derive(Debug, Clone)]
pub struct RunFolders {
    /// The run id: `YYYYMMDDTHHMMSSZ-<pid in hex>`, with `-2`, `-3` … when that was taken.
    pub id: String,
    /// `<out>/captures/<id>`.
    pub captures: PathBuf,
    /// `<out>/reports/<id>`.
    pub reports: PathBuf,
}

impl RunFolders {
    /// Creates `captures/<id>` and `reports/<id>` under `out`, with an id made of `now` and
    /// `pid` that no earlier run in `out` has used. `create_dir` fails on a folder that
    /// exists, so two runs cannot both take one id.
    pub fn claim(out: &Path, now: time::OffsetDateTime, pid: u32) -> std::io::Result<RunFolders> {
        let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let stamp = now
            .format(fmt)
            .map_err(|e| std::io::Error::other(format!("cannot format the run time: {e}")))?;
        let base = format!("{stamp}-{pid:x}");
        std::fs::create_dir_all(out.join("captures"))?;
        std::fs::create_dir_all(out.join("reports"))?;
        for n in 1u32.. {
            let id = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let reports = out.join("reports").join(&id);
            match std::fs::create_dir(&reports) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
            let captures = out.join("captures").join(&id);
            match std::fs::create_dir(&captures) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // Left by a run whose report folder is gone: do not mix captures.
                    let _ = std::fs::remove_dir(&reports);
                    continue;
                }
                Err(e) => {
                    let _ = std::fs::remove_dir(&reports);
                    return Err(e);
                }
            }
            return Ok(RunFolders {
                id,
                captures,
                reports,
            });
        }
        Err(std::io::Error::other("no free run id"))
    }

    /// The capture of scenario `id` as `report.json` stores it (relative to the output root).
    pub fn capture_ref(&self, scenario: &str) -> String {
        format!("captures/{}/{scenario}.pcapng", self.id)
    }
}

/// Points `reports/latest` at run `id` (a relative symlink). The new link is made under a
/// name of this run alone and renamed over `latest`, so the link is replaced in one step and
/// two runs finishing together never touch each other's temporary link: `latest` ends up
/// naming whichever finished last.
pub fn point_latest(reports: &Path, id: &str) -> std::io::Result<()> {
    let link = reports.join("latest");
    let tmp = reports.join(format!(".latest-{id}"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(id, &tmp)
        .and_then(|()| std::fs::rename(&tmp, &link))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// Reads a path stored in a run folder back: it must be relative and stay inside `base`.
pub fn resolve(base: &Path, stored: &str) -> Result<PathBuf, String> {
    let p = Path::new(stored);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "`{stored}` is not a path inside the run folder (an older run, or one edited by hand)"
        ));
    }
    Ok(base.join(p))
}

/// A capture as `report.json` stores it, found from the run folder: relative to the output
/// root, two folders above the run folder (`<run>/../../captures/<run-id>/<id>.pcapng`),
/// made absolute so that a message naming it says where it was looked for.
pub fn capture_file(run: &Path, stored: &str) -> Result<PathBuf, String> {
    let path = resolve(&run.join("..").join(".."), stored)?;
    Ok(lexical_absolute(&path).unwrap_or(path))
}

/// `path` made absolute (against the working directory) with `.` and `..` folded away,
/// without touching the file system.
fn lexical_absolute(path: &Path) -> std::io::Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Copies a scenario file and the fixtures it reads into `dest`, keeping their places
/// relative to each other (fixtures may sit in a sibling folder: `../boot/fixtures/…`), and
/// returns where the scenario file landed, relative to `dest`. Loading that copy gives the
/// same scenario without the original files. `images` (user-supplied firmware images named
/// by a relative path, possibly gigabytes) are not copied but linked where the copy looks for
/// them, so the copy loads on this machine; a folder moved elsewhere needs them beside it.
pub fn snapshot_scenario(
    scenario: &Path,
    fixtures: &[PathBuf],
    images: &[PathBuf],
    dest: &Path,
) -> std::io::Result<PathBuf> {
    let file = lexical_absolute(scenario)?;
    let mut all = vec![file.clone()];
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    for f in fixtures {
        all.push(lexical_absolute(&dir.join(f))?);
    }
    let copies = all.len();
    for f in images {
        all.push(lexical_absolute(&dir.join(f))?);
    }
    // The deepest folder holding every file.
    let mut common = dir.clone();
    while !all.iter().all(|p| p.starts_with(&common)) {
        if !common.pop() {
            break;
        }
    }
    let rel = |p: &Path| p.strip_prefix(&common).map(Path::to_path_buf);
    let mut scenario_rel = None;
    for (i, p) in all.iter().enumerate() {
        let r = rel(p).map_err(std::io::Error::other)?;
        let target = dest.join(&r);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if i < copies {
            std::fs::copy(p, &target)?;
        } else {
            // A link left by an earlier run into the same folder is replaced.
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(p, &target)?;
        }
        if i == 0 {
            scenario_rel = Some(r);
        }
    }
    scenario_rel.ok_or_else(|| std::io::Error::other("no scenario file"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("phonecert-runfolder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn runs_started_in_the_same_second_by_the_same_process_get_their_own_folders() {
        let out = scratch("claim");
        let now = time::macros::datetime!(2026-11-30 10:00:00 UTC);
        let a = RunFolders::claim(&out, now, 0x1a2b).unwrap();
        let b = RunFolders::claim(&out, now, 0x1a2b).unwrap();
        let c = RunFolders::claim(&out, now, 0x1a2c).unwrap();
        assert_eq!(a.id, "20261130T100000Z-1a2b");
        assert_eq!(b.id, "20261130T100000Z-1a2b-2");
        assert_eq!(c.id, "20261130T100000Z-1a2c");
        for r in [&a, &b, &c] {
            assert!(r.reports.is_dir() && r.captures.is_dir());
        }
        // A captures folder left without its report folder is not reused.
        std::fs::create_dir(out.join("captures/20261130T100000Z-1a2b-3")).unwrap();
        let d = RunFolders::claim(&out, now, 0x1a2b).unwrap();
        assert_eq!(d.id, "20261130T100000Z-1a2b-4");
        assert!(!out.join("reports/20261130T100000Z-1a2b-3").exists());
        assert_eq!(
            d.capture_ref("BOOT-001"),
            "captures/20261130T100000Z-1a2b-4/BOOT-001.pcapng"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn runs_of_one_process_pointing_latest_at_once_never_fail() {
        let reports = scratch("latest");
        let ids: Vec<String> = (0..16).map(|i| format!("run-{i}")).collect();
        for id in &ids {
            std::fs::create_dir(reports.join(id)).unwrap();
        }
        std::thread::scope(|s| {
            for id in &ids {
                let reports = &reports;
                s.spawn(move || {
                    for _ in 0..50 {
                        point_latest(reports, id).unwrap();
                    }
                });
            }
        });
        let target = std::fs::read_link(reports.join("latest")).unwrap();
        assert!(ids.iter().any(|i| Path::new(i) == target), "{target:?}");
        let left: Vec<_> = std::fs::read_dir(&reports)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".latest"))
            .collect();
        assert!(left.is_empty(), "temporary links left: {left:?}");
        std::fs::remove_dir_all(&reports).unwrap();
    }

    #[test]
    fn stored_paths_must_stay_inside_the_run_folder() {
        let base = Path::new("/runs/r1");
        assert_eq!(
            resolve(base, "timelines/A.json").unwrap(),
            Path::new("/runs/r1/timelines/A.json")
        );
        assert!(
            resolve(base, "/etc/passwd")
                .unwrap_err()
                .contains("`/etc/passwd`")
        );
        assert!(resolve(base, "../other/timelines/A.json").is_err());
        assert_eq!(
            capture_file(base, "captures/r1/A.pcapng").unwrap(),
            Path::new("/captures/r1/A.pcapng")
        );
    }

    #[test]
    fn a_snapshot_keeps_fixtures_in_sibling_folders_where_the_scenario_finds_them() {
        let root = scratch("snapshot");
        let suite = root.join("suite");
        std::fs::create_dir_all(suite.join("reg")).unwrap();
        std::fs::create_dir_all(suite.join("boot/fixtures")).unwrap();
        std::fs::write(suite.join("reg/a.toml"), "scenario").unwrap();
        std::fs::write(suite.join("boot/fixtures/s.txt"), "fixture").unwrap();
        let dest = root.join("copy");
        std::fs::create_dir_all(suite.join("images")).unwrap();
        std::fs::write(suite.join("images/vendor.bin"), "image").unwrap();
        let at = snapshot_scenario(
            &suite.join("reg/a.toml"),
            &[PathBuf::from("../boot/fixtures/s.txt")],
            &[PathBuf::from("../images/vendor.bin")],
            &dest,
        )
        .unwrap();
        assert_eq!(at, Path::new("reg/a.toml"));
        let copied = dest.join(&at);
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "scenario");
        let fixture = copied.parent().unwrap().join("../boot/fixtures/s.txt");
        assert_eq!(std::fs::read_to_string(fixture).unwrap(), "fixture");
        // The image is linked, not copied.
        let image = copied.parent().unwrap().join("../images/vendor.bin");
        assert!(
            std::fs::symlink_metadata(&image)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(image).unwrap(), "image");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
