//! Path keys naming files: relative to the config file's folder, checked
//! to exist and to read as the store and the delivery client will read them.
//!
//! Why a module: `[store]` and `[delivery]` both name PEM files.

use crate::pem::PemKind;
use crate::raw::{Ctx, Field};

/// A path key: a file that exists, relative to the config file's folder.
fn existing_file(c: &mut Ctx<'_>, f: &Field<'_>) -> Option<std::path::PathBuf> {
    let path = c.nonempty_string(f)?;
    let full = c.base_dir.join(&path);
    if full.is_file() {
        Some(full)
    } else {
        c.error_at(f, format!("no readable file at {}", full.display()));
        None
    }
}

/// A path key naming PEM certificates (CA roots, a client certificate):
/// an existing file read as the store and the delivery client read it
/// ([`crate::pem`]), so check-config refuses what `serve` would.
pub(super) fn certificates_file(c: &mut Ctx<'_>, f: &Field<'_>) -> Option<std::path::PathBuf> {
    pem_file(c, f, PemKind::Certificates)
}

/// A path key naming a PEM private key, checked like [`certificates_file`].
pub(super) fn key_file(c: &mut Ctx<'_>, f: &Field<'_>) -> Option<std::path::PathBuf> {
    pem_file(c, f, PemKind::Key)
}

fn pem_file(c: &mut Ctx<'_>, f: &Field<'_>, kind: PemKind) -> Option<std::path::PathBuf> {
    let full = existing_file(c, f)?;
    match crate::pem::read(&full, kind) {
        Ok(_) => Some(full),
        Err(message) => {
            c.error_at(f, message);
            None
        }
    }
}
