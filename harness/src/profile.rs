//! Phone profiles: per phone family, the values the admin guide leaves to the phone and a
//! check has to name (the upgrade script's file name, the forms of its User-Agents).
//!
//! Owns: the profile format (`scenarios/profiles/*.toml`: `name`, `title`, `[params]`), the
//! profiles shipped with the suite (read into the binary, so `--profile` works from any
//! folder), and the `${profile.NAME}` lab variables a profile gives a run.
//!
//! Never: decides which scenarios run (the CLI and the engine do, from a scenario's
//! `profiles`), judges anything. A profile is data: what differs between 96x0 R2.x and 96x1
//! R6/R7 is in the files, not in code.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::scenario::vars::Vars;

/// The profile a run uses unless `--profile` names another.
pub const DEFAULT: &str = "avaya-96x0-sip";

/// The shipped profiles: (file, text).
const SHIPPED: [(&str, &str); 2] = [
    (
        "scenarios/profiles/avaya-96x0-sip.toml",
        include_str!("../../scenarios/profiles/avaya-96x0-sip.toml"),
    ),
    (
        "scenarios/profiles/avaya-96x1-sip.toml",
        include_str!("../../scenarios/profiles/avaya-96x1-sip.toml"),
    ),
];

/// A phone family's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `avaya-96x0-sip`: what `--profile` and a scenario's `profiles` name.
    pub name: String,
    /// One line for people.
    pub title: String,
    /// The values checks use as `${profile.NAME}`.
    pub params: ProfileParams,
}

/// What a profile fixes. Every field is a `${profile.NAME}` variable of the same name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileParams {
    /// The upgrade script the phone fetches first (`96xxupgrade.txt`, `96x1Supgrade.txt`).
    pub upgrade_script: String,
    /// What every HTTP request's User-Agent starts with (`AVAYA/96x0-IPT-SIP-`).
    pub http_user_agent: String,
    /// What the SIP User-Agent starts with (`Avaya one-X Deskphone`).
    pub sip_user_agent: String,
    /// MODEL4 of the family's phone the scenarios play (`[phone] model`), and their upgrade
    /// scripts branch on (`9620`, `9611`).
    pub model: String,
    /// The model pattern the family's firmware images name (`96x0`, `96x1`), one that
    /// [`ProfileParams::model`] matches.
    pub image_models: String,
    /// A model pattern of another family, which the family's phones must not take an
    /// image for.
    pub other_image_models: String,
    /// How the family's application files begin: `S96x0_SALBR`, then the release with
    /// underscores (`2_6_1_0`) and `.bin`.
    pub app_prefix: String,
    /// The whole HTTP User-Agent of the family's phone while it runs the application the
    /// upgrade scenarios start from (release 2.6.0.0): the release is written differently
    /// per family (`AVAYA/96x0-IPT-SIP-2.6.0.0 9620`, `AVAYA/96x1-IPT-SIP-R2_6_0_0 9611`).
    pub http_user_agent_at_start: String,
}

/// The `${profile.NAME}` variables, in the order of [`ProfileParams`]' fields.
pub const VARS: [&str; 8] = [
    "profile.upgrade_script",
    "profile.http_user_agent",
    "profile.sip_user_agent",
    "profile.model",
    "profile.image_models",
    "profile.other_image_models",
    "profile.app_prefix",
    "profile.http_user_agent_at_start",
];

/// A shipped profile that does not read (a defect of the build, caught by the tests).
#[derive(Debug, thiserror::Error)]
#[error("profile file {file} is not valid: {source}")]
pub struct ProfileError {
    file: &'static str,
    source: toml::de::Error,
}

impl Profile {
    /// Every shipped profile, in name order.
    pub fn shipped() -> Result<Vec<Profile>, ProfileError> {
        let mut all = SHIPPED
            .iter()
            .map(|(file, text)| {
                toml::from_str::<Profile>(text).map_err(|source| ProfileError { file, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// The names of the shipped profiles (those that read).
    pub fn names() -> Vec<String> {
        Profile::shipped()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.name)
            .collect()
    }

    /// The shipped profile called `name`.
    pub fn named(name: &str) -> Option<Profile> {
        Profile::shipped()
            .ok()?
            .into_iter()
            .find(|p| p.name == name)
    }

    /// Puts `${profile.NAME}` for every parameter into `vars`.
    pub fn add_vars(&self, vars: &mut Vars) {
        let p = &self.params;
        let values = [
            &p.upgrade_script,
            &p.http_user_agent,
            &p.sip_user_agent,
            &p.model,
            &p.image_models,
            &p.other_image_models,
            &p.app_prefix,
            &p.http_user_agent_at_start,
        ];
        for (name, value) in VARS.iter().zip(values) {
            vars.insert(name, value.clone());
        }
    }

    /// `text` with the profile's `${profile.NAME}` variables filled in: the values of a
    /// scenario's `[phone]` that name the family (`model = "${profile.model}"`).
    pub fn expand(&self, text: &str) -> String {
        let mut vars = Vars::new();
        self.add_vars(&mut vars);
        crate::scenario::vars::expand(text, &vars)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_shipped_profiles_read_and_differ_where_the_families_do() {
        let all = Profile::shipped().unwrap();
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["avaya-96x0-sip", "avaya-96x1-sip"]);
        assert!(names.contains(&DEFAULT));
        let (r2, r7) = (&all[0].params, &all[1].params);
        assert_eq!(r2.upgrade_script, "96xxupgrade.txt");
        assert_eq!(r7.upgrade_script, "96x1Supgrade.txt");
        assert_ne!(r2.http_user_agent, r7.http_user_agent);
    }

    #[test]
    fn every_parameter_is_a_variable() {
        let mut vars = Vars::new();
        Profile::named("avaya-96x1-sip")
            .unwrap()
            .add_vars(&mut vars);
        assert_eq!(
            vars.get("profile.upgrade_script").map(String::as_str),
            Some("96x1Supgrade.txt")
        );
        // One variable per field of the parameters, no more, no less.
        let fields = serde_json::to_value(&Profile::named(DEFAULT).unwrap().params).unwrap();
        let mut names: Vec<String> = fields
            .as_object()
            .unwrap()
            .keys()
            .map(|k| format!("profile.{k}"))
            .collect();
        names.sort();
        let mut vars: Vec<&str> = VARS.to_vec();
        vars.sort();
        assert_eq!(names, vars);
        assert!(Profile::named("polycom").is_none());
    }
}
