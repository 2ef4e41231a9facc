//! The "endpoint reachable" check: DNS, TCP, then a TLS handshake done here with rustls (ring)
//! and the same trust as the object_store client (platform roots plus the endpoint CA), so a
//! certificate problem reads as one sentence instead of object_store's
//! `HTTP error: error sending request` after ten retries.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Host, port and whether to speak TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl Endpoint {
    pub(crate) fn from_url(url: &reqwest::Url) -> Option<Endpoint> {
        Some(Endpoint {
            host: url.host_str()?.trim_matches(['[', ']']).to_owned(),
            port: url.port_or_known_default()?,
            tls: url.scheme() == "https",
        })
    }
}

/// A readable sentence for a certificate error, ending with rustls' name for it.
fn certificate_error(e: &CertificateError, host: &str) -> String {
    match e {
        CertificateError::UnknownIssuer => {
            "certificate signed by an unknown authority (UnknownIssuer)".to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("certificate is not valid for `{host}` (NotValidForName)")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "certificate has expired (Expired)".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate is not valid yet (NotValidYet)".to_owned()
        }
        CertificateError::BadSignature => {
            "certificate signature does not verify against the trusted CA of the same name (BadSignature)"
                .to_owned()
        }
        CertificateError::Revoked => "certificate is revoked (Revoked)".to_owned(),
        CertificateError::BadEncoding => "certificate is malformed (BadEncoding)".to_owned(),
        other => format!("certificate rejected ({other:?})"),
    }
}

fn tls_error_text(e: &std::io::Error, host: &str) -> String {
    let rustls_err = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_err {
        Some(rustls::Error::InvalidCertificate(c)) => certificate_error(c, host),
        Some(other) => format!("TLS handshake failed: {other}"),
        None => format!("TLS handshake failed: {e}"),
    }
}

/// Parses a PEM bundle into certificates.
///
/// # Errors
/// A sentence when the bundle holds no certificate or a malformed one.
pub(crate) fn parse_ca(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    match certs {
        Ok(c) if c.is_empty() => Err("endpoint CA holds no PEM certificate".to_owned()),
        Ok(c) => Ok(c),
        Err(e) => Err(format!("endpoint CA is not a PEM certificate bundle: {e}")),
    }
}

/// DNS, TCP and (for https) a TLS handshake, each within `timeout`. Ok: what was reached.
///
/// # Errors
/// One sentence naming the step that failed and why.
pub(crate) async fn probe_endpoint(
    ep: &Endpoint,
    ca_pem: Option<&str>,
    timeout: Duration,
) -> Result<String, String> {
    let target = format!("{}:{}", ep.host, ep.port);
    let addrs: Vec<_> = match tokio::time::timeout(
        timeout,
        tokio::net::lookup_host((ep.host.as_str(), ep.port)),
    )
    .await
    {
        Err(_) => return Err(format!("DNS lookup of `{}` timed out", ep.host)),
        Ok(Err(e)) => return Err(format!("DNS lookup of `{}` failed: {e}", ep.host)),
        Ok(Ok(a)) => a.collect(),
    };
    let Some(addr) = addrs.first().copied() else {
        return Err(format!("DNS lookup of `{}` found no address", ep.host));
    };
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(format!("TCP connect to `{target}` ({addr}) timed out")),
        Ok(Err(e)) => return Err(format!("TCP connect to `{target}` ({addr}) failed: {e}")),
        Ok(Ok(s)) => s,
    };
    if !ep.tls {
        return Ok(format!(
            "`{target}` ({addr}) accepts TCP; plain http, no TLS"
        ));
    }
    let extra = match ca_pem {
        Some(pem) => parse_ca(pem)?,
        None => Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| format!("cannot load the trusted roots: {e}"))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let name = ServerName::try_from(ep.host.clone())
        .map_err(|_| format!("`{}` is not a valid TLS server name", ep.host))?;
    match tokio::time::timeout(
        timeout,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    {
        Err(_) => Err(format!("TLS handshake with `{target}` timed out")),
        Ok(Err(e)) => Err(format!(
            "TLS handshake with `{target}`: {}",
            tls_error_text(&e, &ep.host)
        )),
        Ok(Ok(_)) => Ok(format!(
            "`{target}` ({addr}) accepts TCP; TLS certificate trusted{}",
            if ca_pem.is_some() {
                " (with the endpoint CA)"
            } else {
                ""
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_issuer_reads_as_one_sentence() {
        assert_eq!(
            certificate_error(&CertificateError::UnknownIssuer, "h"),
            "certificate signed by an unknown authority (UnknownIssuer)"
        );
        assert_eq!(
            certificate_error(&CertificateError::NotValidForName, "s3.example.com"),
            "certificate is not valid for `s3.example.com` (NotValidForName)"
        );
    }

    #[test]
    fn a_ca_without_certificates_is_refused() {
        assert_eq!(
            parse_ca("hello").unwrap_err(),
            "endpoint CA holds no PEM certificate"
        );
    }

    #[test]
    fn endpoint_takes_the_default_port_of_the_scheme() {
        let url = reqwest::Url::parse("https://s3.example.com").unwrap();
        assert_eq!(
            Endpoint::from_url(&url),
            Some(Endpoint {
                host: "s3.example.com".to_owned(),
                port: 443,
                tls: true
            })
        );
    }

    #[tokio::test]
    async fn a_closed_port_fails_at_tcp() {
        // Bind then drop a listener: the port is (almost surely) closed right after.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let ep = Endpoint {
            host: "127.0.0.1".to_owned(),
            port,
            tls: false,
        };
        let err = probe_endpoint(&ep, None, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            err.starts_with(&format!("TCP connect to `127.0.0.1:{port}`")),
            "{err}"
        );
    }
}
