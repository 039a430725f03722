//! The wss listener's certificate: PEM files given by the operator, or a
//! self-signed one made once with `rcgen` and kept in the data dir
//! (`wss-cert.pem`, `wss-key.pem` mode 0600), so its fingerprint stays the
//! same across restarts and can be pinned or accepted once.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use super::WssTls;

/// File names of the self-signed certificate in the data dir.
pub const SELF_SIGNED_CERT: &str = "wss-cert.pem";
pub const SELF_SIGNED_KEY: &str = "wss-key.pem";

/// The acceptor for `tls` and the certificate's SHA-256 fingerprint.
pub(crate) fn acceptor(
    tls: &WssTls,
    data_dir: &Path,
    listen: SocketAddr,
) -> anyhow::Result<(TlsAcceptor, String)> {
    let (cert_path, key_path) = match tls {
        WssTls::Files { cert, key } => (cert.clone(), key.clone()),
        WssTls::SelfSigned => ensure_self_signed(data_dir, listen)?,
        WssTls::InsecurePlain => bail!("no TLS in plain mode"),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("reading {} (--tls-cert)", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing PEM certificates in {}", cert_path.display()))?;
    let Some(leaf) = certs.first() else {
        bail!(
            "{} holds no certificate; give a PEM file with -----BEGIN CERTIFICATE-----",
            cert_path.display()
        );
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(&key_path).with_context(|| {
        format!(
            "reading a PEM private key (PKCS#8, PKCS#1 or SEC1) from {} (--tls-key)",
            key_path.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .with_context(|| {
        format!(
            "the key in {} does not match the certificate in {}",
            key_path.display(),
            cert_path.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), fingerprint))
}

/// SHA-256 of a DER certificate as `AB:CD:...`, what browsers show.
pub fn fingerprint(cert: &[u8]) -> String {
    Sha256::digest(cert)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The data dir's self-signed certificate, made on first use.
pub fn ensure_self_signed(
    data_dir: &Path,
    listen: SocketAddr,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert_path = data_dir.join(SELF_SIGNED_CERT);
    let key_path = data_dir.join(SELF_SIGNED_KEY);
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let mut names = vec!["atenet".to_owned(), "localhost".to_owned()];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    let made =
        rcgen::generate_simple_self_signed(names).context("making a self-signed certificate")?;
    // The key first, created 0600 from the start (never readable by others).
    write_new(
        &key_path,
        made.signing_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_new(&cert_path, made.cert.pem().as_bytes(), 0o644)?;
    tracing::info!(cert = %cert_path.display(), "made a self-signed wss certificate");
    Ok((cert_path, key_path))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn self_signed_is_made_once_with_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (cert, key) = ensure_self_signed(dir.path(), listen).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (_, first) = acceptor(&WssTls::SelfSigned, dir.path(), listen).unwrap();
        let (_, again) = acceptor(&WssTls::SelfSigned, dir.path(), listen).unwrap();
        assert_eq!(first, again, "the certificate is kept, not remade");
        assert_eq!(first.len(), 32 * 3 - 1);
        assert!(cert.ends_with(SELF_SIGNED_CERT));
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not pem").unwrap();
        let tls = WssTls::Files {
            cert: cert.clone(),
            key: dir.path().join("missing.pem"),
        };
        let Err(err) = acceptor(&tls, dir.path(), "127.0.0.1:0".parse().unwrap()) else {
            panic!("a missing key file is refused");
        };
        let err = format!("{err:#}");
        assert!(err.contains("c.pem"), "{err}");
    }
}
