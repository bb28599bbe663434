//! Lowering: a typed scenario plus one lab's values → the servers' configurations.
//!
//! Owns: the DHCP server's [`ServerConfig`] (untagged and per voice VLAN), each SIP
//! controller's [`Registrar`], the file server's [`FileTable`] and the firmware images in it,
//! and the conversion of the scenario's phone seconds into the servers' real time.
//!
//! Never: fails. Every value it reads was parsed and checked when the scenario loaded, and the
//! lab's values are addresses and ports the lab made; so these are plain functions, tested
//! here without a network. Never starts a server either (the engine does).

use std::time::{Duration, SystemTime};

use pc_dhcp::server::ServerConfig;
use pc_http::body::{Body, FileBody, Patch};
use pc_http::files::{Behaviour, FileEntry, FileTable, LastModified, RangePolicy};
use pc_sip::digest::Algorithm;
use pc_sip::registrar::{Registrar, RegistrarConfig, ScriptedAnswer};
use provisioning::firmware::{self, SigningKey};

use crate::lab::LabAddrs;
use crate::scenario::vars::{Vars, expand};
use crate::scenario::{
    Corruption, Delivery, DhcpRule, FileContent, FirmwareKind, FirmwareSpec, ImageFile,
    OptionValue, Scenario, ServedFile, Siaddr, SipAnswer, VlanSetup,
};

/// What one run of a scenario in one lab adds to the scenario.
#[derive(Debug, Clone, Copy)]
pub struct Lab<'a> {
    /// The lab's (or the VLAN's) addresses.
    pub addrs: &'a LabAddrs,
    /// `${name}` values.
    pub vars: &'a Vars,
    /// The phone's MAC: the only client the DHCP server answers.
    pub mac: [u8; 6],
    /// Phone seconds per real second.
    pub time_scale: f64,
    /// The run's lab CA, when the scenario uses TLS or serves the CA.
    pub lab_ca: Option<&'a pc_pki::LabCa>,
    /// The phone's subnet behind the relay agent, in the lab's relayed topology: its
    /// `server_ip` is the router (the agent's `giaddr` and the phone's option 3), its pool
    /// the addresses the DHCP server leases there. `None`: the phone is on the servers' link.
    pub relayed: Option<&'a LabAddrs>,
}

/// The longest span [`real_time`] gives: over a century, longer than any scenario, and
/// still small enough to add to an `Instant` without overflow (`Duration::MAX` is not).
pub const LONGEST: Duration = Duration::from_secs(1 << 32);

/// Seconds as a `Duration` that never panics: below zero or not a number is zero, beyond
/// [`LONGEST`] is [`LONGEST`]. The loader keeps a scenario's times within 30 days, but a
/// small time scale stretches them, and `Duration::from_secs_f64` panics on overflow.
pub fn real_time(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(seconds).map_or(LONGEST, |d| d.min(LONGEST))
    }
}

impl Lab<'_> {
    /// A span of phone seconds in the servers' real time.
    fn real(&self, phone_s: f64) -> Duration {
        real_time(phone_s / self.time_scale)
    }

    fn bytes(&self, v: &OptionValue) -> Vec<u8> {
        match v {
            OptionValue::Text(t) => expand(t, self.vars).into_bytes(),
            OptionValue::Bytes(b) => b.clone(),
        }
    }
}

/// The untagged DHCP server's configuration.
pub fn dhcp_config(sc: &Scenario, lab: Lab<'_>) -> ServerConfig {
    let d = &sc.spec.dhcp;
    let rules = d
        .rules
        .iter()
        .map(|r| match *r {
            DhcpRule::DropFirst { msg_type, count } => pc_dhcp::Rule::DropFirst { msg_type, count },
            DhcpRule::NakRequest { nth } => pc_dhcp::Rule::NakRequest { nth },
            DhcpRule::Delay { msg_type, seconds } => pc_dhcp::Rule::Delay {
                msg_type,
                delay: lab.real(seconds),
            },
            DhcpRule::AnswerAfter { seconds } => pc_dhcp::Rule::AnswerAfter {
                after: lab.real(seconds),
            },
        })
        .collect();
    ServerConfig {
        server_ip: lab.addrs.server_ip,
        subnet_mask: lab.addrs.mask,
        router: Some(lab.addrs.server_ip),
        dns: Vec::new(),
        pool_start: lab.addrs.pool_start,
        pool_end: lab.addrs.pool_end,
        lease_time: Some(d.lease_time),
        sson: d.sson,
        site_string: sc.dhcp.site_option.as_ref().map(|v| lab.bytes(v)),
        siaddr: sc.dhcp.siaddr.map(|s| match s {
            Siaddr::Fixed(ip) => ip,
            Siaddr::Server => lab.addrs.server_ip,
            Siaddr::Dead => lab.addrs.dead_ip,
        }),
        extra_options: sc
            .dhcp
            .add
            .iter()
            .map(|(code, v)| (*code, lab.bytes(v)))
            .collect(),
        allowed_macs: vec![lab.mac],
        rules,
        omit_options: d.omit.clone(),
        option_order: (!d.order.is_empty()).then(|| d.order.clone()),
        max_size_policy: d.max_size,
        // Behind the relay the phone is served from its own subnet's pool, its router being
        // the relay (RFC 2131 §4.3.1: the subnet of giaddr).
        relay_subnets: lab
            .relayed
            .map(|r| pc_dhcp::RelaySubnet {
                network: r.server_ip,
                mask: r.mask,
                router: Some(r.server_ip),
                pool_start: r.pool_start,
                pool_end: r.pool_end,
            })
            .into_iter()
            .collect(),
    }
}

/// The relay agent of a relayed scenario in a lab with the relayed topology: at the router's
/// address on the phone's subnet, forwarding to the lab's DHCP server, with the scenario's
/// option 82 sub-options. `None` when either is missing.
pub fn relay_config(sc: &Scenario, lab: Lab<'_>) -> Option<pc_dhcp::relay::RelayConfig> {
    let setup = sc.spec.dhcp.relay.as_ref()?;
    let subnet = lab.relayed?;
    Some(pc_dhcp::relay::RelayConfig {
        circuit_id: setup.circuit_id.as_ref().map(|c| c.as_bytes().to_vec()),
        remote_id: setup.remote_id.as_ref().map(|r| r.as_bytes().to_vec()),
        ..pc_dhcp::relay::RelayConfig::new(subnet.server_ip, vec![lab.addrs.server_ip])
    })
}

/// The DHCP server of a voice VLAN: the untagged server's options in the VLAN's subnet, with
/// the VLAN's own site option and lease time, and none of the scenario's rules (they shape
/// the untagged exchange the scenario is about).
pub fn vlan_dhcp_config(sc: &Scenario, vlan: &VlanSetup, lab: Lab<'_>) -> ServerConfig {
    ServerConfig {
        site_string: vlan
            .option242
            .as_ref()
            .map(|s| expand(s, lab.vars).into_bytes()),
        lease_time: Some(vlan.lease_time.unwrap_or(sc.spec.dhcp.lease_time)),
        rules: Vec::new(),
        ..dhcp_config(sc, lab)
    }
}

/// The registrar of controller `i` (0 is `[sip]`, then each `[[sip.controller]]`); `seed`
/// makes its nonces. A controller the scenario does not have serves normally.
pub fn registrar_for(sc: &Scenario, i: usize, seed: u64) -> Registrar {
    let sip = &sc.spec.sip;
    let mut registrar = Registrar::new(RegistrarConfig {
        domain: sip.domain.clone(),
        realm: sc.sip.realm.clone(),
        accounts: sip
            .accounts
            .iter()
            .map(|a| (a.user.clone(), a.password.clone()))
            .collect(),
        algorithm: if sc.sip.sha256 {
            Algorithm::Sha256
        } else {
            Algorithm::Md5
        },
        qop: sip.qop,
        expires: sip.expires,
        nonce_seed: seed,
        challenge_wrong_credentials: sc.sip.challenge_wrong_credentials,
    });
    let Some(controller) = sc.sip.controllers.get(i) else {
        return registrar;
    };
    if controller.down {
        // A dead controller that still hears.
        registrar.set_after_script(ScriptedAnswer::Silence);
        return registrar;
    }
    if !controller.script.is_empty() {
        registrar.set_script(
            controller
                .script
                .iter()
                .map(|a| match a {
                    SipAnswer::Normal => ScriptedAnswer::Normal,
                    SipAnswer::Grant(expires) => ScriptedAnswer::Grant { expires: *expires },
                    SipAnswer::Status {
                        code,
                        reason,
                        headers,
                        challenges,
                        stale,
                    } => ScriptedAnswer::Status {
                        code: *code,
                        reason: reason.clone(),
                        headers: headers.clone(),
                        challenges: challenges.clone(),
                        stale: *stale,
                    },
                    SipAnswer::Silence => ScriptedAnswer::Silence,
                    SipAnswer::Close => ScriptedAnswer::Close,
                })
                .collect(),
        );
    }
    registrar
}

/// Whether controller `i` accepts TCP on its port (a controller the scenario does not have
/// does).
pub fn accepts_tcp(sc: &Scenario, i: usize) -> bool {
    sc.sip.controllers.get(i).is_none_or(|c| c.tcp)
}

/// The file server's table. Every file is dated 2026-01-01, so runs serve the same bytes and
/// headers.
pub fn file_table(sc: &Scenario, lab: Lab<'_>) -> FileTable {
    let mut table = FileTable::new();
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let key = provisioning::firmware::lab_signing_key();
    for (path, file) in &sc.files {
        // Per-phone folders (`${phone_mac_hex}/…`) and a profile's files
        // (`fw/${profile.upgrade_script}`) are expanded like file contents, before the entry
        // takes its content type from the name.
        let path = expand(path, lab.vars);
        let entry = file_entry(&path, file, lab, modified, &key);
        // The loader refused every path the table's normalisation refuses, so this holds.
        if let Err(e) = table.insert(&format!("/{path}"), entry) {
            tracing::error!("file `{path}` left out of the file server: {e}");
        }
    }
    table
}

/// One file's entry, its `then` answers chained behind it.
fn file_entry(
    path: &str,
    file: &ServedFile,
    lab: Lab<'_>,
    modified: SystemTime,
    key: &SigningKey,
) -> FileEntry {
    let body = match &file.content {
        FileContent::Text(t) => Body::Memory(expand(t, lab.vars).into_bytes().into()),
        FileContent::Bytes(b) => Body::Memory(b.clone().into()),
        FileContent::Firmware(fw) => {
            // The models an image names may be the profile's (`${profile.image_models}`).
            let fw = FirmwareSpec {
                models: fw.models.iter().map(|m| expand(m, lab.vars)).collect(),
                ..fw.clone()
            };
            Body::Memory(firmware_image(path, &fw, key).into())
        }
        FileContent::Image(image) => Body::file(image_body(image)),
        FileContent::StatusOnly => Body::default(),
        FileContent::LabCa => Body::Memory(
            lab.lab_ca
                .map(|ca| ca.pem().as_bytes().to_vec())
                .unwrap_or_default()
                .into(),
        ),
    };
    let mut behaviour = match file.delivery {
        Delivery::Serve => Behaviour::Serve,
        Delivery::Status(code) => Behaviour::Status { code },
        Delivery::CutAfter { bytes, reset } => Behaviour::CutAfter { bytes, reset },
        Delivery::WrongLength(declared) => Behaviour::WrongLength { declared },
        Delivery::StallAfter { bytes, pause } => Behaviour::StallAfter {
            bytes,
            pause: lab.real(pause),
        },
        Delivery::Chunked(chunk) => Behaviour::Chunked { chunk },
        Delivery::CloseDelimited => Behaviour::CloseDelimited,
        Delivery::Drip { bytes, every } => Behaviour::Drip {
            bytes,
            every: lab.real(every),
        },
        Delivery::Silence => Behaviour::Silence,
    };
    if let Some(d) = file.delay {
        behaviour = Behaviour::Delay {
            before: lab.real(d),
            then: Box::new(behaviour),
        };
    }
    let h = &file.headers;
    FileEntry {
        body,
        content_type: match &h.content_type {
            None => Some(pc_http::files::content_type_for(path).to_string()),
            Some(given) => given.clone(),
        },
        last_modified: match &h.last_modified {
            None => LastModified::At(modified),
            Some(Some(raw)) => LastModified::Raw(raw.clone()),
            Some(None) => LastModified::Omit,
        },
        etag: h.etag.clone(),
        range: if h.honour_range {
            RangePolicy::Honour
        } else {
            RangePolicy::Ignore
        },
        behaviour,
        then: file
            .then
            .as_ref()
            .map(|next| Box::new(file_entry(path, next, lab, modified, key))),
    }
}

/// A user-supplied image as the file server streams it: its first `len` bytes, the header
/// replacement and the bit flip applied on the way out.
fn image_body(image: &ImageFile) -> FileBody {
    let mut patches = Vec::new();
    if let Some(bytes) = &image.replace_header {
        patches.push(Patch::Replace {
            offset: 0,
            bytes: bytes.clone(),
        });
    }
    if let Some(offset) = image.bitflip {
        patches.push(Patch::Xor { offset, mask: 0x01 });
    }
    FileBody {
        path: image.path.clone(),
        len: image.len,
        patches,
    }
}

/// The key the "untrusted signer" images are signed with: any key but the lab's.
fn untrusted_key() -> SigningKey {
    SigningKey::from_bytes(&[0x5a; 32])
}

/// A firmware image in the reference format, signed with `key`, then damaged as the scenario
/// says.
pub fn firmware_image(path: &str, fw: &FirmwareSpec, key: &SigningKey) -> Vec<u8> {
    let app = path.rsplit('/').next().unwrap_or(path);
    // Deterministic filler: the same scenario serves the same bytes in every run.
    let payload: Vec<u8> = (0..fw.size as u64).map(firmware::filler_byte).collect();
    let models: Vec<&str> = fw.models.iter().map(String::as_str).collect();
    let hardware: Vec<&str> = fw.hardware.iter().map(String::as_str).collect();
    let spec = firmware::ImageSpec {
        kind: match fw.kind {
            FirmwareKind::Application => firmware::ImageKind::Application,
            FirmwareKind::BootCode => firmware::ImageKind::BootCode,
        },
        models: &models,
        hardware: &hardware,
        version: &fw.version,
        app_name: app,
    };
    match fw.corrupt {
        None => firmware::build(&spec, &payload, key),
        Some(Corruption::FlipByte) => {
            let mut image = firmware::build(&spec, &payload, key);
            // A byte in the middle of the payload, well past the signed header.
            let at = image.len().saturating_sub(fw.size / 2 + 1);
            if let Some(b) = image.get_mut(at) {
                *b ^= 0x40;
            }
            image
        }
        Some(Corruption::Truncate) => {
            let mut image = firmware::build(&spec, &payload, key);
            image.truncate(image.len() / 2);
            image
        }
        Some(Corruption::BadSignature) => {
            let mut image = firmware::build(&spec, &payload, key);
            if let Ok(header) = firmware::parse_header(&image)
                && let Some(b) = image.get_mut(header.signed_len + 7)
            {
                *b ^= 0x10;
            }
            image
        }
        Some(Corruption::UntrustedSigner) => firmware::build(&spec, &payload, &untrusted_key()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;

    use super::*;
    use crate::scenario::load_str;

    const BASE: &str = r#"
id = "L-1"
title = "t"
family = "boot"
[phone]
model = "9620"
firmware = "S96x0_SALBR2_6_0_0.bin"
mac = "00:1b:4f:27:31:2a"
user = "2001"
password = "p"
[sip]
domain = "lab.test"
accounts = [{ user = "2001", password = "p" }]
[run]
timeout = 10
[[check]]
id = "A"
title = "a"
requirement = "r"
kind = "event"
proto = "dhcp"
event = "received"
"#;

    fn scenario(extra: &str) -> Scenario {
        load_str(Path::new("lower.toml"), &format!("{BASE}\n{extra}")).unwrap()
    }

    fn addrs() -> LabAddrs {
        LabAddrs {
            server_ip: Ipv4Addr::new(10, 66, 0, 1),
            mask: Ipv4Addr::new(255, 255, 255, 0),
            pool_start: Ipv4Addr::new(10, 66, 0, 100),
            pool_end: Ipv4Addr::new(10, 66, 0, 199),
            dead_ip: Ipv4Addr::new(10, 66, 0, 254),
        }
    }

    /// The test lab: [`addrs`], [`vars`], the phone [`MAC`], no lab CA.
    fn lab<'a>(a: &'a LabAddrs, v: &'a Vars, time_scale: f64) -> Lab<'a> {
        Lab {
            addrs: a,
            vars: v,
            mac: MAC,
            time_scale,
            lab_ca: None,
            relayed: None,
        }
    }

    #[test]
    fn a_relayed_phone_is_served_from_its_subnet_through_the_router_with_its_agent_ids() {
        let sc =
            scenario("[dhcp]\nrelay = { circuit_id = \"Gi1/0/7\", remote_id = \"sw-floor3\" }");
        let (a, v) = (addrs(), vars());
        let subnet = crate::lab::Router::subnet();
        let relayed = Lab {
            relayed: Some(&subnet),
            ..lab(&a, &v, 1.0)
        };
        let cfg = dhcp_config(&sc, relayed);
        assert_eq!(
            cfg.relay_subnets,
            vec![pc_dhcp::RelaySubnet {
                network: Ipv4Addr::new(10, 66, 1, 1),
                mask: Ipv4Addr::new(255, 255, 255, 0),
                router: Some(Ipv4Addr::new(10, 66, 1, 1)),
                pool_start: Ipv4Addr::new(10, 66, 1, 100),
                pool_end: Ipv4Addr::new(10, 66, 1, 199),
            }]
        );
        let agent = relay_config(&sc, relayed).unwrap();
        assert_eq!(agent.address, Ipv4Addr::new(10, 66, 1, 1));
        assert_eq!(agent.servers, vec![Ipv4Addr::new(10, 66, 0, 1)]);
        assert_eq!(agent.circuit_id.as_deref(), Some(&b"Gi1/0/7"[..]));
        assert_eq!(agent.remote_id.as_deref(), Some(&b"sw-floor3"[..]));
        // Not relayed: no relayed subnet and no agent.
        assert!(dhcp_config(&sc, lab(&a, &v, 1.0)).relay_subnets.is_empty());
        assert!(relay_config(&sc, lab(&a, &v, 1.0)).is_none());
        assert!(relay_config(&scenario("[dhcp]"), relayed).is_none());
    }

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.insert("server_ip", "10.66.0.1".into());
        v.insert("http_port", "80".into());
        v
    }

    const MAC: [u8; 6] = [0, 0x1b, 0x4f, 0x27, 0x31, 0x2a];

    #[test]
    fn real_time_saturates_instead_of_panicking() {
        assert_eq!(real_time(1.5), Duration::from_millis(1500));
        assert_eq!(real_time(-3.0), Duration::ZERO);
        assert_eq!(real_time(f64::NAN), Duration::ZERO);
        assert_eq!(real_time(1e20), LONGEST);
        assert_eq!(real_time(f64::INFINITY), LONGEST);
        // Still addable to the clock.
        assert!(std::time::Instant::now().checked_add(LONGEST).is_some());
    }

    #[test]
    fn the_max_size_policy_reaches_the_server() {
        let (a, v) = (addrs(), vars());
        let lab = lab(&a, &v, 1.0);
        let fit = dhcp_config(&scenario("[dhcp]"), lab);
        assert_eq!(fit.max_size_policy, pc_dhcp::fit::MaxSizePolicy::Fit);
        let report = dhcp_config(&scenario("[dhcp]\nmax_size = \"report\""), lab);
        assert_eq!(report.max_size_policy, pc_dhcp::fit::MaxSizePolicy::Report);
        // A check may name what the server did about option 57.
        let checked = scenario(
            "[dhcp]\n[[check]]\nid = \"B\"\ntitle = \"b\"\nrequirement = \"RFC 2132 §9.10\"\nkind = \"event\"\nproto = \"dhcp\"\nevent = \"sent\"\nmatch = { \"max_size.outcome\" = \"fitted\", \"max_size.dropped\" = { contains = 43 } }",
        );
        assert_eq!(checked.checks.len(), 2);
    }

    #[test]
    fn dhcp_values_are_expanded_and_rules_scaled() {
        let sc = scenario(
            "[dhcp]\noption242 = \"HTTPSRVR=${server_ip}\"\nsiaddr = \"${dead_ip}\"\nadd = [{ code = 66, text = \"${server_ip}\" }, { code = 43, hex = \"01 02\" }]\nrules = [{ action = \"delay\", msg_type = \"discover\", seconds = 5 }, { action = \"drop_first\", msg_type = \"REQUEST\", count = 1 }]\nomit = [51]",
        );
        let (a, v) = (addrs(), vars());
        let cfg = dhcp_config(&sc, lab(&a, &v, 10.0));
        assert_eq!(cfg.site_string, Some(b"HTTPSRVR=10.66.0.1".to_vec()));
        assert_eq!(cfg.siaddr, Some(Ipv4Addr::new(10, 66, 0, 254)));
        assert_eq!(
            cfg.extra_options,
            vec![(66, b"10.66.0.1".to_vec()), (43, vec![1, 2])]
        );
        assert_eq!(
            cfg.rules,
            vec![
                pc_dhcp::Rule::Delay {
                    msg_type: pc_dhcp::server::MessageType::Discover,
                    delay: Duration::from_millis(500),
                },
                pc_dhcp::Rule::DropFirst {
                    msg_type: pc_dhcp::server::MessageType::Request,
                    count: 1,
                },
            ]
        );
        assert_eq!(cfg.omit_options, vec![51]);
        assert_eq!(cfg.allowed_macs, vec![MAC]);
    }

    #[test]
    fn hex_site_option_goes_out_as_written_and_vlans_get_their_own() {
        let sc = scenario(
            "[dhcp]\noption242_hex = \"48 54 00\"\nlease_time = 600\nrules = [{ action = \"nak_request\", nth = 2 }]\n[[dhcp.vlan]]\nid = 42\noption242 = \"HTTPDIR=v${http_port}\"",
        );
        let (a, v) = (addrs(), vars());
        let lab = lab(&a, &v, 1.0);
        assert_eq!(dhcp_config(&sc, lab).site_string, Some(vec![0x48, 0x54, 0]));
        let vlan = vlan_dhcp_config(&sc, &sc.spec.dhcp.vlan[0], lab);
        assert_eq!(vlan.site_string, Some(b"HTTPDIR=v80".to_vec()));
        assert_eq!(vlan.lease_time, Some(600));
        assert!(vlan.rules.is_empty());
    }

    #[test]
    fn per_phone_folders_and_the_lab_ca_are_served() {
        let sc = scenario(
            "[dhcp]\n[files]\n\"${phone_mac_hex}/46xxsettings.txt\" = { text = \"SET GROUP 1\" }\n\"lab-ca.pem\" = { lab_ca = true }",
        );
        let (a, mut v) = (addrs(), vars());
        v.insert("phone_mac_hex", "001b4fd10001".into());
        let ca =
            pc_pki::LabCa::generate(pc_pki::KeyKind::EcdsaP256, time::OffsetDateTime::now_utc())
                .unwrap();
        let table = file_table(
            &sc,
            Lab {
                lab_ca: Some(&ca),
                ..lab(&a, &v, 1.0)
            },
        );
        assert_eq!(
            &table
                .get("/001b4fd10001/46xxsettings.txt")
                .unwrap()
                .body
                .in_memory()
                .unwrap()[..],
            b"SET GROUP 1"
        );
        assert!(table.get("/${phone_mac_hex}/46xxsettings.txt").is_none());
        assert_eq!(
            &table.get("/lab-ca.pem").unwrap().body.in_memory().unwrap()[..],
            ca.pem().as_bytes()
        );
    }

    #[test]
    fn an_image_named_through_the_profile_carries_the_profile_models() {
        let sc = scenario(
            "[dhcp]\n[files]\n\"fw/${profile.app_prefix}2_6_1_0.bin\" = { firmware = { version = \"2.6.1.0\", models = [\"${profile.image_models}\"] } }",
        );
        let (a, mut v) = (addrs(), vars());
        crate::profile::Profile::named("avaya-96x1-sip")
            .unwrap()
            .add_vars(&mut v);
        let table = file_table(&sc, lab(&a, &v, 1.0));
        let body = table
            .get("/fw/S96x1_SALBR2_6_1_0.bin")
            .unwrap()
            .body
            .in_memory()
            .unwrap()
            .to_vec();
        let header = provisioning::firmware::parse_header(&body).unwrap();
        assert_eq!(header.models, ["96x1"]);
    }

    #[test]
    fn files_get_their_delivery_in_real_time() {
        let sc = scenario(
            "[dhcp]\n[files]\n\"a.txt\" = { text = \"at ${server_ip}\", delay = 20 }\n\"b.bin\" = { firmware = { version = \"2.6.1.0\", models = [\"96x0\"], size = 64 }, stall_after = 8, pause = 30 }\n\"gone.txt\" = { status = 404 }",
        );
        let (a, v) = (addrs(), vars());
        let table = file_table(&sc, lab(&a, &v, 10.0));
        let a_txt = table.get("/a.txt").unwrap();
        assert_eq!(&a_txt.body.in_memory().unwrap()[..], b"at 10.66.0.1");
        assert_eq!(
            a_txt.behaviour,
            Behaviour::Delay {
                before: Duration::from_secs(2),
                then: Box::new(Behaviour::Serve)
            }
        );
        assert_eq!(
            table.get("/b.bin").unwrap().behaviour,
            Behaviour::StallAfter {
                bytes: 8,
                pause: Duration::from_secs(3)
            }
        );
        assert_eq!(
            table.get("/gone.txt").unwrap().behaviour,
            Behaviour::Status { code: 404 }
        );
    }

    #[test]
    fn file_faults_and_header_variants_are_lowered() {
        let sc = scenario(
            "[dhcp]\n[files]\n\"c.bin\" = { text = \"x\", chunked = 512, content_type = false, etag = 'W/\"1\"' }\n\"d.bin\" = { text = \"x\", drip = { bytes = 100, every = 5 }, last_modified = \"yesterday\", range = \"honour\" }\n\"s.bin\" = { text = \"x\", silence = true, content_type = \"text/html\", last_modified = false }\n\"e.txt\" = { text = \"x\", close_delimited = true }\n\"t.bin\" = { status = 404, then = { text = \"x\", stall_after = 1, pause = 20, then = { text = \"y\" } } }",
        );
        let (a, v) = (addrs(), vars());
        let table = file_table(&sc, lab(&a, &v, 10.0));
        let c = table.get("/c.bin").unwrap();
        assert_eq!(c.behaviour, Behaviour::Chunked { chunk: 512 });
        assert_eq!(c.content_type, None);
        assert_eq!(c.etag.as_deref(), Some("W/\"1\""));
        assert_eq!(c.range, RangePolicy::Ignore);
        assert!(matches!(c.last_modified, LastModified::At(_)));
        let d = table.get("/d.bin").unwrap();
        assert_eq!(
            d.behaviour,
            Behaviour::Drip {
                bytes: 100,
                every: Duration::from_millis(500)
            }
        );
        assert_eq!(d.last_modified, LastModified::Raw("yesterday".into()));
        assert_eq!(d.range, RangePolicy::Honour);
        assert_eq!(d.content_type.as_deref(), Some("application/octet-stream"));
        assert_eq!(
            table.get("/e.txt").unwrap().behaviour,
            Behaviour::CloseDelimited
        );
        let s = table.get("/s.bin").unwrap();
        assert_eq!(s.behaviour, Behaviour::Silence);
        assert_eq!(s.content_type.as_deref(), Some("text/html"));
        assert_eq!(s.last_modified, LastModified::Omit);
        let t = table.get("/t.bin").unwrap();
        assert_eq!(t.behaviour, Behaviour::Status { code: 404 });
        let second = t.for_request(1);
        assert_eq!(
            (
                second.behaviour.clone(),
                &second.body.in_memory().unwrap()[..]
            ),
            (
                Behaviour::StallAfter {
                    bytes: 1,
                    pause: Duration::from_secs(2)
                },
                &b"x"[..]
            )
        );
        assert_eq!(&t.for_request(2).body.in_memory().unwrap()[..], b"y");
        assert_eq!(t.for_request(9).behaviour, Behaviour::Serve);
    }

    #[test]
    fn a_user_image_is_streamed_from_its_file_with_its_damage() {
        let path =
            std::env::temp_dir().join(format!("phonecert-lower-image-{}", std::process::id()));
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        let sc = scenario(&format!(
            "[dhcp]\n[files]\n\"fw/real.bin\" = {{ image = \"{}\", corrupt = {{ bitflip = 100, truncate = 1000, replace_header = \"4d 5a\" }} }}\n\"fw/whole.bin\" = {{ image = \"{}\" }}",
            path.display(),
            path.display()
        ));
        let (a, v) = (addrs(), vars());
        let lab = lab(&a, &v, 1.0);
        let table = file_table(&sc, lab);
        let _ = std::fs::remove_file(&path);
        let Body::File { file, start, len } = &table.get("/fw/real.bin").unwrap().body else {
            panic!("a file body");
        };
        assert_eq!((*start, *len), (0, 1000));
        assert_eq!(file.path, path);
        assert_eq!(
            file.patches,
            vec![
                Patch::Replace {
                    offset: 0,
                    bytes: vec![0x4d, 0x5a]
                },
                Patch::Xor {
                    offset: 100,
                    mask: 1
                }
            ]
        );
        let whole = &table.get("/fw/whole.bin").unwrap();
        assert_eq!(whole.body.len(), 4096);
        assert_eq!(
            whole.content_type.as_deref(),
            Some("application/octet-stream")
        );
    }

    #[test]
    fn corrupted_firmware_differs_from_the_good_image() {
        let fw = |corrupt: &str| {
            let sc = scenario(&format!(
                "[dhcp]\n[files]\n\"fw.bin\" = {{ firmware = {{ version = \"1\", models = [\"96x0\"], size = 64{corrupt} }} }}"
            ));
            match &sc.files["fw.bin"].content {
                FileContent::Firmware(f) => {
                    firmware_image("fw.bin", f, &provisioning::firmware::lab_signing_key())
                }
                other => panic!("{other:?}"),
            }
        };
        let good = fw("");
        let flipped = fw(", corrupt = \"flip_byte\"");
        assert_eq!(good.len(), flipped.len());
        assert_eq!(good.iter().zip(&flipped).filter(|(a, b)| a != b).count(), 1);
        assert_eq!(fw(", corrupt = \"truncate\"").len(), good.len() / 2);
        // Each damage is found by the check it is meant for.
        let keys = [provisioning::firmware::lab_signing_key().verifying_key()];
        let phone = firmware::Target {
            model4: "9620",
            hardware: "D01A",
            kind: firmware::ImageKind::Application,
            trusted: &keys,
        };
        let refused_by = |image: &[u8]| firmware::verify(image, &phone).unwrap_err().check();
        assert!(firmware::verify(&good, &phone).is_ok());
        assert_eq!(refused_by(&flipped), Some(firmware::Check::Hash));
        assert_eq!(
            refused_by(&fw(", corrupt = \"bad_signature\"")),
            Some(firmware::Check::Signature)
        );
        assert_eq!(
            refused_by(&fw(", corrupt = \"untrusted_signer\"")),
            Some(firmware::Check::Signer)
        );
        assert_eq!(
            refused_by(&fw(", hardware = [\"D02B\"]")),
            Some(firmware::Check::Hardware)
        );
        assert_eq!(
            refused_by(&fw(", kind = \"boot_code\"")),
            Some(firmware::Check::Kind)
        );
        assert!(firmware::verify(&fw(", hardware = [\"D01A\", \"D01B\"]"), &phone).is_ok());
    }
}
