//! PEM files the config names (`[store] ca_file`, `client_cert_file`,
//! `client_key_file`, `[delivery] ca_file`), read one way everywhere:
//! check-config refuses what the store and the delivery client would, with
//! the same words. Errors name the file, never quote it (a key is a
//! secret).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

/// What a PEM file must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemKind {
    /// At least one certificate, every block valid.
    Certificates,
    /// A private key.
    Key,
}

/// The file's bytes, once they hold what `kind` says.
pub fn read(path: &Path, kind: PemKind) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let why = match kind {
        PemKind::Certificates => {
            let mut found = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                if cert.is_err() {
                    return Err(format!("{}: not valid PEM", path.display()));
                }
                found += 1;
            }
            (found == 0).then_some("no PEM certificate in it")
        }
        PemKind::Key => PrivateKeyDer::from_pem_slice(&pem)
            .is_err()
            .then_some("no PEM private key in it"),
    };
    match why {
        Some(why) => Err(format!("{}: {why}", path.display())),
        None => Ok(pem),
    }
}
