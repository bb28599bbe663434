//! phonecert's lab certificates: one lab CA per run, and the server certificate a scenario
//! chooses for a TLS server (the HTTPS file server, a SIP registrar over TLS), ready as a
//! rustls [`ServerConfig`].
//!
//! Owns: key generation (rcgen on aws-lc-rs, the one crypto provider of the workspace, which
//! can make the RSA keys phones often insist on), the four certificate choices a scenario
//! can make ([`CertChoice`]: a leaf signed by the lab CA, a self-signed one, an expired one,
//! one for the wrong name), the scenario syntax for that choice ([`ServerCertSpec`]), and
//! the PEM of the lab CA that a phone is given through TRUSTCERTS (Avaya 9600 SIP admin
//! guide: TRUSTCERTS, TLSSRVRID; domain.md "File server").
//!
//! Never: opens a socket, reads the clock (the caller passes `now`, so tests can pin it), or
//! decides whether a client should have accepted a certificate — what a conforming phone
//! does with each choice is written in the scenarios.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// The DNS name a [`CertChoice::WrongName`] certificate is issued for: under `.invalid`
/// (RFC 6761 §6.4), so it can never be the name of a real server.
pub const WRONG_NAME: &str = "not-this-server.invalid";

/// The common name of the lab CA, as a phone's certificate list would show it.
pub const LAB_CA_NAME: &str = "phonecert lab CA";

/// Which certificate a TLS server presents. Scenario files spell these in snake case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CertChoice {
    /// Signed by the lab CA, for the server's own names, valid now: a phone given the lab
    /// CA (TRUSTCERTS) accepts it.
    #[default]
    LabCa,
    /// Self-signed, for the server's own names: no trusted CA vouches for it.
    SelfSigned,
    /// Signed by the lab CA, for the server's own names, but expired yesterday.
    Expired,
    /// Signed by the lab CA and valid, but for [`WRONG_NAME`] only: a phone that checks the
    /// server's identity (TLSSRVRID=1) refuses it, one that does not (TLSSRVRID=0) accepts.
    WrongName,
}

impl CertChoice {
    /// Every choice, in documentation order.
    pub const ALL: [CertChoice; 4] = [
        CertChoice::LabCa,
        CertChoice::SelfSigned,
        CertChoice::Expired,
        CertChoice::WrongName,
    ];

    /// The scenario spelling (`lab_ca`, `self_signed`, `expired`, `wrong_name`).
    pub fn name(self) -> &'static str {
        match self {
            CertChoice::LabCa => "lab_ca",
            CertChoice::SelfSigned => "self_signed",
            CertChoice::Expired => "expired",
            CertChoice::WrongName => "wrong_name",
        }
    }
}

/// The key type of a generated certificate. Scenario files spell these in snake case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// RSA 2048 with SHA-256 signatures: what older phone firmware is sure to support.
    #[default]
    Rsa2048,
    /// ECDSA P-256 with SHA-256: smaller and faster, for clients known to take it.
    EcdsaP256,
}

/// A TLS server's certificate as a scenario writes it, e.g. in TOML
/// `tls = { cert = "expired", key = "ecdsa_p256" }`; both keys are optional
/// (`lab_ca`, `rsa2048`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ServerCertSpec {
    #[serde(default)]
    pub cert: CertChoice,
    #[serde(default)]
    pub key: KeyKind,
}

/// What went wrong making or using a certificate.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate the {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot build the tls configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The crypto provider every TLS endpoint of phonecert uses, installed explicitly rather
/// than left to feature unification (aws-lc-rs: RSA key generation, TLS 1.2 and 1.3).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn key_pair(kind: KeyKind, what: &'static str) -> Result<KeyPair, PkiError> {
    let alg = match kind {
        KeyKind::Rsa2048 => &PKCS_RSA_SHA256,
        KeyKind::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
    };
    KeyPair::generate_for(alg).map_err(|source| PkiError::Generate { what, source })
}

/// The lab's certificate authority: made fresh for each run, never written anywhere but
/// the run's own folder.
pub struct LabCa {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
    key: KeyKind,
}

impl std::fmt::Debug for LabCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabCa")
            .field("key", &self.key)
            .field("der_len", &self.der.len())
            .finish_non_exhaustive()
    }
}

impl LabCa {
    /// A new CA valid from a day before `now` for ten years.
    pub fn generate(key: KeyKind, now: OffsetDateTime) -> Result<Self, PkiError> {
        let pair = key_pair(key, "lab CA key")?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, LAB_CA_NAME);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "phonecert");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let cert = params
            .self_signed(&pair)
            .map_err(|source| PkiError::Generate {
                what: "lab CA certificate",
                source,
            })?;
        Ok(LabCa {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, pair),
            key,
        })
    }

    /// The CA certificate in PEM, the file a phone's TRUSTCERTS names.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate in DER.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Write the CA certificate (PEM) to `path`, e.g. into a run folder as evidence.
    pub fn write_pem(&self, path: &Path) -> Result<(), PkiError> {
        std::fs::write(path, &self.pem).map_err(|source| PkiError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// The certificate and key a server with these `names` (addresses or DNS names) presents
    /// under `spec`. Valid choices run from a day before `now` for a year.
    pub fn server_identity(
        &self,
        spec: ServerCertSpec,
        names: &[String],
        now: OffsetDateTime,
    ) -> Result<ServerIdentity, PkiError> {
        let subject: Vec<String> = match spec.cert {
            CertChoice::WrongName => vec![WRONG_NAME.to_string()],
            _ => names.to_vec(),
        };
        let mut params =
            CertificateParams::new(subject.clone()).map_err(|source| PkiError::Generate {
                what: "server certificate parameters",
                source,
            })?;
        let cn = subject.first().cloned().unwrap_or_else(|| "server".into());
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let (not_before, not_after) = match spec.cert {
            CertChoice::Expired => (now - Duration::days(30), now - Duration::days(1)),
            _ => (now - Duration::days(1), now + Duration::days(365)),
        };
        params.not_before = not_before;
        params.not_after = not_after;
        let pair = key_pair(spec.key, "server key")?;
        let made = match spec.cert {
            CertChoice::SelfSigned => params.self_signed(&pair),
            _ => params.signed_by(&pair, &self.issuer),
        };
        let cert = made.map_err(|source| PkiError::Generate {
            what: "server certificate",
            source,
        })?;
        Ok(ServerIdentity {
            spec,
            names: subject,
            not_before,
            not_after,
            der: cert.der().clone(),
            pem: cert.pem(),
            key_der: pair.serialize_der(),
        })
    }

    /// A client configuration that trusts only this CA and checks names: for tests and
    /// harness-side clients that must see what a strict phone sees.
    pub fn client_config(&self) -> Result<ClientConfig, PkiError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone())?;
        Ok(ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

/// A server certificate and its key, made by [`LabCa::server_identity`].
#[derive(Clone)]
pub struct ServerIdentity {
    /// What the scenario asked for.
    pub spec: ServerCertSpec,
    /// The names the certificate is issued for (`WRONG_NAME` for a wrong-name one).
    pub names: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    der: CertificateDer<'static>,
    pem: String,
    key_der: Vec<u8>,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("spec", &self.spec)
            .field("names", &self.names)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl ServerIdentity {
    /// The server certificate in PEM (evidence for the run folder).
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// The server certificate in DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// A rustls server configuration presenting this certificate (TLS 1.2 and 1.3, no
    /// client certificates).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, PkiError> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![self.der.clone()], key)?;
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// Handshake a client trusting `ca` (connecting to `name`) with a server presenting
    /// `id`; `Ok` when the client accepted and data crossed, else the client's error text.
    async fn handshake(ca: &LabCa, id: &ServerIdentity, name: &str) -> Result<(), String> {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let acceptor = TlsAcceptor::from(id.server_config().expect("server config"));
        let server = tokio::spawn(async move {
            let mut tls = acceptor
                .accept(server_io)
                .await
                .map_err(|e| e.to_string())?;
            tls.write_all(b"ok").await.map_err(|e| e.to_string())?;
            tls.shutdown().await.map_err(|e| e.to_string())
        });
        let connector = TlsConnector::from(Arc::new(ca.client_config().expect("client config")));
        let server_name = ServerName::try_from(name.to_string()).expect("server name");
        let result = async {
            let mut tls = connector
                .connect(server_name, client_io)
                .await
                .map_err(|e| tls_error(&e))?;
            let mut buf = Vec::new();
            tls.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
            if buf == b"ok" {
                Ok(())
            } else {
                Err(format!("read {buf:?}"))
            }
        }
        .await;
        let _ = server.await;
        result
    }

    #[tokio::test]
    async fn each_choice_is_accepted_or_refused_by_a_strict_client_for_its_own_reason() {
        let ca = LabCa::generate(KeyKind::EcdsaP256, now()).expect("ca");
        let names = vec!["10.66.0.1".to_string(), "files.lab.test".to_string()];
        let id = |cert| {
            ca.server_identity(
                ServerCertSpec {
                    cert,
                    key: KeyKind::EcdsaP256,
                },
                &names,
                now(),
            )
            .expect("identity")
        };
        let good = id(CertChoice::LabCa);
        assert_eq!(handshake(&ca, &good, "10.66.0.1").await, Ok(()));
        assert_eq!(handshake(&ca, &good, "files.lab.test").await, Ok(()));
        // The same good certificate under another name is refused: names are checked.
        let other = handshake(&ca, &good, "other.lab.test").await;
        assert!(
            other.as_ref().is_err_and(|e| e.contains("NotValidForName")),
            "{other:?}"
        );

        let self_signed = handshake(&ca, &id(CertChoice::SelfSigned), "10.66.0.1").await;
        assert!(
            self_signed
                .as_ref()
                .is_err_and(|e| e.contains("UnknownIssuer")),
            "{self_signed:?}"
        );
        let expired = handshake(&ca, &id(CertChoice::Expired), "10.66.0.1").await;
        assert!(
            expired.as_ref().is_err_and(|e| e.contains("Expired")),
            "{expired:?}"
        );
        let wrong = handshake(&ca, &id(CertChoice::WrongName), "10.66.0.1").await;
        assert!(
            wrong.as_ref().is_err_and(|e| e.contains("NotValidForName")),
            "{wrong:?}"
        );
        assert_eq!(
            id(CertChoice::WrongName).names,
            vec![WRONG_NAME.to_string()]
        );
    }

    #[tokio::test]
    async fn rsa_keys_work_for_the_ca_and_the_server() {
        let ca = LabCa::generate(KeyKind::Rsa2048, now()).expect("ca");
        let id = ca
            .server_identity(ServerCertSpec::default(), &["127.0.0.1".to_string()], now())
            .expect("identity");
        assert_eq!(id.spec.key, KeyKind::Rsa2048);
        assert_eq!(handshake(&ca, &id, "127.0.0.1").await, Ok(()));
    }

    #[test]
    fn the_ca_pem_is_a_certificate_and_is_written_as_is() {
        let ca = LabCa::generate(KeyKind::EcdsaP256, now()).expect("ca");
        assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let dir = std::env::temp_dir().join(format!("pc-pki-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lab-ca.pem");
        ca.write_pem(&path).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), ca.pem());
        std::fs::remove_dir_all(&dir).expect("cleanup");
        let err = ca
            .write_pem(Path::new("/nonexistent-dir/lab-ca.pem"))
            .expect_err("no such dir");
        assert!(
            err.to_string()
                .starts_with("cannot write /nonexistent-dir/lab-ca.pem")
        );
    }

    #[test]
    fn the_scenario_spelling_reads_and_defaults() {
        #[derive(Deserialize)]
        struct Wrap {
            tls: ServerCertSpec,
        }
        let w: Wrap = toml_like(r#"{"tls": {"cert": "wrong_name", "key": "ecdsa_p256"}}"#);
        assert_eq!(w.tls.cert, CertChoice::WrongName);
        assert_eq!(w.tls.key, KeyKind::EcdsaP256);
        let w: Wrap = toml_like(r#"{"tls": {}}"#);
        assert_eq!(w.tls, ServerCertSpec::default());
        for c in CertChoice::ALL {
            let back: CertChoice = toml_like(&format!("\"{}\"", c.name()));
            assert_eq!(back, c);
        }
        assert!(serde_json::from_str::<Wrap>(r#"{"tls": {"cert": "lab_ca", "crt": 1}}"#).is_err());
    }

    /// The rustls error inside an I/O error, in Debug form (names the certificate error).
    fn tls_error(e: &std::io::Error) -> String {
        match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(inner) => format!("{inner:?}"),
            None => e.to_string(),
        }
    }

    fn toml_like<T: for<'de> Deserialize<'de>>(json: &str) -> T {
        serde_json::from_str(json).expect("parses")
    }
}
