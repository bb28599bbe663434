//! What the phone's HTTPS client accepts: its trust store (certificates given at power-up
//! with `--trust-cert`, and those TRUSTCERTS names in the settings file) and the rustls
//! client configuration built from it.
//!
//! Owns: PEM reading of trusted certificates, the certificate check — chain to a trusted
//! certificate, validity dates, and the server's name only when TLSSRVRID=1 (Avaya 9600 SIP
//! admin guide: TLSSRVRID 0 = the name in the certificate is not checked; domain.md "DHCP")
//! — and the `accept-any-server-cert` fault, which skips the check entirely.
//! Never: opens connections (the HTTP client does), decides when HTTPS is tried (boot does).
//!
//! With nothing trusted, every certificate is refused (unknown issuer): a phone that has not
//! been given a CA cannot know whom to trust.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

/// The certificates the phone trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    certs: Vec<CertificateDer<'static>>,
}

impl TrustStore {
    /// Add every certificate of a PEM file; returns how many were new. A file with none,
    /// or a malformed one, is refused whole with the reason.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, String> {
        let mut found = Vec::new();
        for item in CertificateDer::pem_slice_iter(pem) {
            found.push(item.map_err(|e| format!("not a PEM certificate file: {e}"))?);
        }
        if found.is_empty() {
            return Err("no certificate in the file".into());
        }
        let mut added = 0;
        for cert in found {
            if !self.certs.contains(&cert) {
                self.certs.push(cert);
                added += 1;
            }
        }
        Ok(added)
    }

    /// How many certificates are trusted.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether nothing is trusted.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// How strictly the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// TLSSRVRID=1: the certificate must be issued for the server's name or address.
    pub check_name: bool,
    /// False only with the `accept-any-server-cert` fault.
    pub verify: bool,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The client configuration for one HTTPS attempt.
pub fn client_config(store: &TrustStore, policy: Policy) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    for cert in &store.certs {
        // A trusted file that is no usable CA simply anchors nothing.
        let _ = roots.add(cert.clone());
    }
    let webpki = if roots.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("cannot build the certificate verifier: {e}"))?,
        )
    };
    let verifier = PhoneVerifier {
        webpki,
        algorithms: provider.signature_verification_algorithms,
        policy,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot build the tls configuration: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The phone's certificate check: WebPKI path building against the trust store, with the
/// name check kept or dropped by TLSSRVRID.
#[derive(Debug)]
struct PhoneVerifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
    policy: Policy,
}

impl ServerCertVerifier for PhoneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if !self.policy.verify {
            return Ok(ServerCertVerified::assertion());
        }
        let Some(webpki) = &self.webpki else {
            return Err(Error::InvalidCertificate(CertificateError::UnknownIssuer));
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.policy.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A CA (PEM) and a server configuration presenting a certificate it signed for `names`.
    fn ca_and_server(names: &[&str]) -> (String, Arc<rustls::ServerConfig>) {
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let leaf = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("leaf");
        let der_key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], der_key)
            .expect("server config");
        (ca.pem(), Arc::new(server))
    }

    /// Handshake with `server` as `name`; Ok when the client accepted.
    async fn connect(
        client: Arc<ClientConfig>,
        server: Arc<rustls::ServerConfig>,
        name: &str,
    ) -> Result<(), String> {
        let (c, s) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        let srv = tokio::spawn(async move {
            if let Ok(mut tls) = acceptor.accept(s).await {
                let _ = tls.write_all(b"ok").await;
                let _ = tls.shutdown().await;
            }
        });
        let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        let result = async {
            let mut tls = tokio_rustls::TlsConnector::from(client)
                .connect(name, c)
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = Vec::new();
            let _ = tls.read_to_end(&mut buf).await;
            Ok(())
        }
        .await;
        let _ = srv.await;
        result
    }

    const STRICT: Policy = Policy {
        check_name: true,
        verify: true,
    };
    const NO_NAME: Policy = Policy {
        check_name: false,
        verify: true,
    };

    #[tokio::test]
    async fn a_trusted_ca_is_accepted_and_the_name_is_checked_only_when_asked() {
        let (ca_pem, server) = ca_and_server(&["10.66.0.1"]);
        let mut store = TrustStore::default();
        assert_eq!(store.add_pem(ca_pem.as_bytes()), Ok(1));
        assert_eq!(store.add_pem(ca_pem.as_bytes()), Ok(0), "no duplicates");
        let strict = client_config(&store, STRICT).expect("config");
        assert_eq!(
            connect(strict.clone(), server.clone(), "10.66.0.1").await,
            Ok(())
        );
        let wrong = connect(strict, server.clone(), "10.66.0.9").await;
        assert!(wrong.is_err(), "TLSSRVRID=1 refuses another name");
        let lax = client_config(&store, NO_NAME).expect("config");
        assert_eq!(connect(lax, server, "10.66.0.9").await, Ok(()));
    }

    #[tokio::test]
    async fn with_nothing_trusted_everything_is_refused_unless_the_fault_is_on() {
        let (_, server) = ca_and_server(&["10.66.0.1"]);
        let empty = TrustStore::default();
        let refused = connect(
            client_config(&empty, NO_NAME).expect("config"),
            server.clone(),
            "10.66.0.1",
        )
        .await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("UnknownIssuer") || e.contains("unknown")),
            "{refused:?}"
        );
        // Another CA does not help either.
        let (other_ca, _) = ca_and_server(&["x"]);
        let mut store = TrustStore::default();
        store.add_pem(other_ca.as_bytes()).expect("pem");
        assert!(
            connect(
                client_config(&store, NO_NAME).expect("config"),
                server.clone(),
                "10.66.0.1"
            )
            .await
            .is_err()
        );
        let any = Policy {
            check_name: true,
            verify: false,
        };
        assert_eq!(
            connect(
                client_config(&empty, any).expect("config"),
                server,
                "10.66.0.9"
            )
            .await,
            Ok(()),
            "accept-any-server-cert takes anything"
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let mut store = TrustStore::default();
        assert!(store.add_pem(b"SET GROUP 1\n").is_err());
        assert!(store.add_pem(b"").is_err());
        assert!(store.is_empty());
    }
}
