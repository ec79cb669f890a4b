//! proto <-> domain conversions of webhooks' client certificates.

use secrecy::SecretString;

use super::convert::timestamp;
use super::proto;
use crate::domain::{ClientCertificateInfo, ClientCertificateInput};

/// A certificate as the wire carried it, checked in the domain.
pub(super) fn certificate_from_wire(
    certificate: Option<proto::ClientCertificate>,
) -> Option<ClientCertificateInput> {
    certificate.map(|c| ClientCertificateInput {
        certificate_chain_pem: c.certificate_chain_pem,
        private_key_pem: SecretString::from(c.private_key_pem),
    })
}

impl From<ClientCertificateInfo> for proto::ClientCertificateInfo {
    fn from(info: ClientCertificateInfo) -> Self {
        Self {
            subject: info.subject,
            issuer: info.issuer,
            not_before: Some(timestamp(info.not_before)),
            not_after: Some(timestamp(info.not_after)),
            sha256_fingerprint: info.sha256_fingerprint,
        }
    }
}
