//! Bearer tokens (docs/admin-api.md): configured as SHA-256 hashes with a role and
//! optional tenants. The presented token is hashed and compared with every
//! configured hash in constant time (no early exit that would time which
//! token matched).

use hookgate_config::{AdminToken, Role};
use hookgate_core::secret::ct_eq;
use sha2::{Digest, Sha256};

/// The caller, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token name (the audit actor).
    pub name: String,
    /// Role.
    pub role: Role,
    /// `None` = every tenant.
    pub tenants: Option<Vec<String>>,
}

impl Caller {
    /// Whether the caller may see a subscription of `tenant`.
    pub fn sees_tenant(&self, tenant: Option<&str>) -> bool {
        match &self.tenants {
            None => true,
            Some(list) => tenant.is_some_and(|t| list.iter().any(|x| x == t)),
        }
    }

    /// Wire name of the role.
    pub fn role_name(&self) -> &'static str {
        role_name(self.role)
    }

    /// What `GET /admin/v1/whoami` answers: the token's own name, role
    /// and tenants, and nothing of other tokens.
    pub fn whoami(&self) -> crate::api::WhoAmI {
        crate::api::WhoAmI {
            name: self.name.clone(),
            role: self.role_name().to_owned(),
            tenants: self.tenants.clone(),
        }
    }
}

/// Wire name of a role.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Operator => "operator",
        Role::Admin => "admin",
    }
}

/// Authenticates an `Authorization` header value.
pub fn authenticate(tokens: &[AdminToken], authorization: Option<&str>) -> Option<Caller> {
    let value = authorization?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    let hash = Sha256::digest(token.as_bytes());
    let mut found = None;
    for t in tokens {
        // Every hash is compared, match or not.
        if ct_eq(t.sha256.expose(), &hash) && found.is_none() {
            found = Some(Caller {
                name: t.name.clone(),
                role: t.role,
                tenants: t.tenants.clone(),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookgate_core::Secret;

    fn token(name: &str, secret: &str, role: Role) -> AdminToken {
        AdminToken {
            name: name.into(),
            role,
            sha256: Secret::new(Sha256::digest(secret.as_bytes()).to_vec()),
            tenants: None,
        }
    }

    #[test]
    fn bearer_forms() {
        let tokens = vec![
            token("a", "alpha", Role::Viewer),
            token("b", "beta", Role::Admin),
        ];
        assert_eq!(
            authenticate(&tokens, Some("Bearer beta")).unwrap().name,
            "b"
        );
        assert_eq!(
            authenticate(&tokens, Some("bearer alpha")).unwrap().name,
            "a"
        );
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic alpha"),
            Some("Bearer gamma"),
            Some("alpha"),
        ] {
            assert!(authenticate(&tokens, bad).is_none(), "{bad:?}");
        }
        // A placeholder hash (empty secret) never matches, not even an empty token.
        let placeholder = AdminToken {
            sha256: Secret::new(Vec::new()),
            ..token("p", "x", Role::Admin)
        };
        assert!(authenticate(&[placeholder], Some("Bearer x")).is_none());
    }
}
