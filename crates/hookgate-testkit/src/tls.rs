//! Throwaway TLS material for tests: a CA, a server certificate it signed
//! for `localhost` and `127.0.0.1`, and a client certificate it signed. Used
//! by [`crate::RedisServer::start_tls`] and by tests' own TLS servers.

/// A throwaway CA's PEM material.
#[derive(Debug, Clone)]
pub struct TestPems {
    /// The CA certificate (what a client trusts).
    pub ca: String,
    /// A server certificate for `localhost` and `127.0.0.1`.
    pub server_cert: String,
    /// Its key.
    pub server_key: String,
    /// A client certificate (mutual TLS).
    pub client_cert: String,
    /// Its key.
    pub client_key: String,
}

impl TestPems {
    /// A throwaway CA, a server certificate signed by it for `localhost` and
    /// `127.0.0.1`, and a client certificate signed by it.
    pub fn generate() -> TestPems {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "hookgate testkit Redis CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign CA");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("server key");
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf
            .signed_by(&key, &issuer)
            .expect("sign server certificate");
        let client_key = KeyPair::generate().expect("client key");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
        client
            .distinguished_name
            .push(DnType::CommonName, "hookgate");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client
            .signed_by(&client_key, &issuer)
            .expect("sign client certificate");
        TestPems {
            ca: ca_cert.pem(),
            server_cert: cert.pem(),
            server_key: key.serialize_pem(),
            client_cert: client_cert.pem(),
            client_key: client_key.serialize_pem(),
        }
    }
}
