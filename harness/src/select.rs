//! Picking scenarios: `--tag`, `--family` and `--id GLOB`, the same for `list` and `run`.
//!
//! Owns: the meaning of a selection — each flag may be repeated and matches when any of its
//! values does; flags of different kinds must all match. Ids are glob patterns (`OPT242-*`,
//! `REG-00?`, `{BOOT,DL}-*`), compared without regard to case like tags and families.
//!
//! Never: loads files (the CLI hands over loaded scenarios), or decides what a scenario
//! checks.

use globset::{Glob, GlobBuilder, GlobMatcher};

use crate::scenario::Scenario;

/// A validated selection. The empty selection picks every scenario.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    tags: Vec<String>,
    families: Vec<String>,
    ids: Vec<(String, GlobMatcher)>,
}

/// A selection flag that cannot mean anything.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// `--id` is not a glob.
    #[error("--id `{pattern}` is not a glob pattern: {why}")]
    BadGlob {
        /// The pattern as given.
        pattern: String,
        /// What globset said.
        why: String,
    },
    /// `--family` names no family.
    #[error("--family `{given}`: {why}")]
    UnknownFamily {
        /// The value given.
        given: String,
        /// What the scenario format says (`unknown variant …, expected one of …`).
        why: String,
    },
}

impl Selection {
    /// Builds a selection from the flags' values; an unknown family or a bad glob is an
    /// error (exit 2).
    pub fn new(
        tags: &[String],
        families: &[String],
        ids: &[String],
    ) -> Result<Selection, SelectError> {
        let mut fams = Vec::new();
        for f in families {
            let f = f.trim().to_ascii_lowercase();
            // The scenario format's own parser decides what a family is, so a family added
            // there is selectable here at once.
            serde_json::from_value::<crate::scenario::Family>(serde_json::Value::String(f.clone()))
                .map_err(|e| SelectError::UnknownFamily {
                    given: f.clone(),
                    why: e.to_string(),
                })?;
            fams.push(f);
        }
        let mut globs = Vec::new();
        for p in ids {
            let glob: Glob = GlobBuilder::new(p)
                .case_insensitive(true)
                .build()
                .map_err(|e| SelectError::BadGlob {
                    pattern: p.clone(),
                    why: e.kind().to_string(),
                })?;
            globs.push((p.clone(), glob.compile_matcher()));
        }
        Ok(Selection {
            tags: tags.iter().map(|t| t.trim().to_lowercase()).collect(),
            families: fams,
            ids: globs,
        })
    }

    /// Whether no flag was given.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.families.is_empty() && self.ids.is_empty()
    }

    /// Whether `s` is selected.
    pub fn picks(&self, s: &Scenario) -> bool {
        let family = family_name(s);
        (self.tags.is_empty()
            || s.spec
                .tags
                .iter()
                .any(|t| self.tags.contains(&t.to_lowercase())))
            && (self.families.is_empty() || self.families.contains(&family))
            && (self.ids.is_empty() || self.ids.iter().any(|(_, g)| g.is_match(&s.spec.id)))
    }

    /// The selected scenarios, in the order given.
    pub fn apply(&self, all: Vec<Scenario>) -> Vec<Scenario> {
        all.into_iter().filter(|s| self.picks(s)).collect()
    }

    /// The flags in words, for "no scenario matches …".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        parts.extend(self.tags.iter().map(|t| format!("--tag {t}")));
        parts.extend(self.families.iter().map(|f| format!("--family {f}")));
        parts.extend(self.ids.iter().map(|(p, _)| format!("--id {p}")));
        parts.join(" ")
    }
}

/// A scenario's family as files and reports name it (`option242`).
pub fn family_name(s: &Scenario) -> String {
    serde_json::to_value(s.spec.family)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", s.spec.family).to_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn suite() -> Vec<Scenario> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let files = crate::scenario::discover(&[root]).unwrap();
        files
            .iter()
            .map(|f| crate::scenario::load_file(f).unwrap())
            .collect()
    }

    fn ids(sel: &Selection) -> Vec<String> {
        let mut v: Vec<String> = sel.apply(suite()).into_iter().map(|s| s.spec.id).collect();
        v.sort();
        v
    }

    fn sel(tags: &[&str], fams: &[&str], ids: &[&str]) -> Selection {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Selection::new(&v(tags), &v(fams), &v(ids)).unwrap()
    }

    #[test]
    fn ids_are_globs_and_ignore_case() {
        let got = ids(&sel(&[], &[], &["reg-00?"]));
        assert!(!got.is_empty());
        assert!(got.iter().all(|i| i.starts_with("REG-00")), "{got:?}");
        let got = ids(&sel(&[], &[], &["BOOT-001", "DL-*"]));
        assert!(got.contains(&"BOOT-001".to_string()), "{got:?}");
        assert!(got.iter().all(|i| i == "BOOT-001" || i.starts_with("DL-")));
    }

    #[test]
    fn flags_of_different_kinds_must_all_match() {
        let all = suite();
        let in_family: Vec<_> = all
            .iter()
            .filter(|s| family_name(s) == "option242")
            .map(|s| s.spec.id.clone())
            .collect();
        assert_eq!(ids(&sel(&[], &["option242"], &[])).len(), in_family.len());
        // A family and an id pattern from another family: nothing.
        assert!(ids(&sel(&[], &["option242"], &["BOOT-*"])).is_empty());
        // Every tag some scenario carries selects exactly the scenarios carrying it.
        let tagged = all.iter().find(|s| !s.spec.tags.is_empty()).unwrap();
        let tag = tagged.spec.tags[0].clone();
        let want = all
            .iter()
            .filter(|s| s.spec.tags.iter().any(|t| t.eq_ignore_ascii_case(&tag)))
            .count();
        assert_eq!(ids(&sel(&[&tag.to_uppercase()], &[], &[])).len(), want);
    }

    #[test]
    fn an_unknown_family_or_a_bad_glob_is_refused() {
        let e = Selection::new(&[], &["optoin242".into()], &[]).unwrap_err();
        assert!(e.to_string().contains("option242"), "{e}");
        let e = Selection::new(&[], &[], &["OPT[".into()]).unwrap_err();
        assert!(e.to_string().starts_with("--id `OPT[`"), "{e}");
    }
}
