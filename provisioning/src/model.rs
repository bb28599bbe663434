//! The 9600-series models a script can branch on, and the read-only variables each reports.
//!
//! Owns: the table of MODEL4 values with their family and `$SHA2CAPABLE`, and building
//! [`PhoneVars`] for a model so that `phonecert script eval` sees what that phone would.
//!
//! Never does: decide what a script does with the variables ([`crate::script`] does), or know
//! a phone's boot code, MAC or running application — those are the caller's to give (an
//! empty variable is unknown, and an `IF` on it is a no-op).
//!
//! Follows domain.md "Script language" (the variables) and the admin guides' model lists.
//! Where they are silent: SHA2CAPABLE is `1` on the 96x1 models and `0` on the 96x0 ones
//! (the 96x1 boot code verifies SHA-2 signatures; the 96x0 boot code predates them).

use crate::script::PhoneVars;

/// The two generations of 9600-series SIP phones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// 9610, 9620, 9630, 9640, 9650: SIP R2.x, upgrade script `96xxupgrade.txt`.
    Sip96x0,
    /// 9608, 9611, 9621, 9641: SIP R6/R7, upgrade script `96x1Supgrade.txt`.
    Sip96x1,
}

impl Family {
    /// The upgrade script the phone asks for first.
    pub fn upgrade_script(self) -> &'static str {
        match self {
            Family::Sip96x0 => "96xxupgrade.txt",
            Family::Sip96x1 => "96x1Supgrade.txt",
        }
    }

    /// `96x0` or `96x1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Sip96x0 => "96x0",
            Family::Sip96x1 => "96x1",
        }
    }
}

/// One model of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// `$MODEL4`.
    pub model4: &'static str,
    pub family: Family,
}

impl Model {
    /// `$SHA2CAPABLE`: whether this model verifies SHA-2 signed files.
    pub fn sha2capable(&self) -> bool {
        self.family == Family::Sip96x1
    }

    /// The variables this model reports before any override: MODEL4, MODEL (with
    /// [`DEFAULT_HARDWARE`]), GROUP, SIG_IN_USE 2 (SIP), SHA2CAPABLE, VPNACTIVE 0. MACADDR,
    /// BOOTNAME, HWVERS and APPNAME stay unknown.
    pub fn vars(&self, group: u16) -> PhoneVars {
        PhoneVars {
            model4: self.model4.to_string(),
            model: format!("{}{DEFAULT_HARDWARE}", self.model4),
            group: group.to_string(),
            sig_in_use: "2".to_string(),
            sha2capable: if self.sha2capable() { "1" } else { "0" }.to_string(),
            vpnactive: "0".to_string(),
            ..PhoneVars::default()
        }
    }
}

/// Every model this profile knows, by MODEL4.
pub static MODELS: &[Model] = &[
    Model {
        model4: "9610",
        family: Family::Sip96x0,
    },
    Model {
        model4: "9620",
        family: Family::Sip96x0,
    },
    Model {
        model4: "9630",
        family: Family::Sip96x0,
    },
    Model {
        model4: "9640",
        family: Family::Sip96x0,
    },
    Model {
        model4: "9650",
        family: Family::Sip96x0,
    },
    Model {
        model4: "9608",
        family: Family::Sip96x1,
    },
    Model {
        model4: "9611",
        family: Family::Sip96x1,
    },
    Model {
        model4: "9621",
        family: Family::Sip96x1,
    },
    Model {
        model4: "9641",
        family: Family::Sip96x1,
    },
];

/// The hardware version `$MODEL` carries when none is given (MODEL = MODEL4 + this).
pub const DEFAULT_HARDWARE: &str = "D01A";

/// The model whose MODEL4 is `model4`.
pub fn find(model4: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.model4 == model4)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sha2capable_follows_the_family() {
        assert_eq!(find("9620").unwrap().vars(0).sha2capable, "0");
        assert_eq!(find("9608").unwrap().vars(0).sha2capable, "1");
        assert_eq!(find("9641").unwrap().family, Family::Sip96x1);
        assert!(find("9999").is_none());
    }

    #[test]
    fn vars_of_a_model() {
        let v = find("9650").unwrap().vars(17);
        assert_eq!(
            (v.model4.as_str(), v.model.as_str(), v.group.as_str()),
            ("9650", "9650D01A", "17")
        );
        assert_eq!(v.sig_in_use, "2");
        assert!(v.bootname.is_empty() && v.macaddr.is_empty());
        assert_eq!(Family::Sip96x1.upgrade_script(), "96x1Supgrade.txt");
    }
}
