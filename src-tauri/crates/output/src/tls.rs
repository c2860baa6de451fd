//! RTMPS: the same session over rustls, verified against the platform's
//! trust store (`rustls-native-certs`: the system bundle, or `SSL_CERT_FILE`
//! / `SSL_CERT_DIR` where set), with SNI and host name verification.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::output::OutputError;

static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();

fn config() -> Result<Arc<ClientConfig>, OutputError> {
    CONFIG
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("no trusted root certificates found on this system".to_owned());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(cfg))
        })
        .clone()
        .map_err(OutputError::Tls)
}

/// Runs the TLS handshake over `tcp` for `host` (SNI and verification name).
pub(crate) async fn connect(
    host: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, OutputError> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| OutputError::Tls(format!("'{host}' is not a valid TLS server name")))?;
    TlsConnector::from(config()?)
        .connect(name, tcp)
        .await
        .map_err(|e| describe(&e))
}

/// Turns a handshake failure into a message a creator can act on.
fn describe(e: &std::io::Error) -> OutputError {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return OutputError::Tls(format!("TLS handshake failed: {e}"));
    };
    let msg = match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "TLS: the server's certificate has expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "TLS: the server's certificate is not valid yet (check the clock)".to_owned()
            }
            CertificateError::UnknownIssuer => {
                "TLS: the server's certificate is not trusted (self-signed or unknown issuer)"
                    .to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "TLS: the server's certificate is for another host name".to_owned()
            }
            CertificateError::Revoked => "TLS: the server's certificate is revoked".to_owned(),
            other => format!("TLS: the server's certificate is invalid ({other:?})"),
        },
        other => format!("TLS handshake failed: {other}"),
    };
    OutputError::Tls(msg)
}
