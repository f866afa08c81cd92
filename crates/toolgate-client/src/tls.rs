//! TLS: reqwest is built with `rustls-no-provider`, so a crypto provider must be installed
//! process-wide before the first client is built. ring is used because the default
//! aws-lc-rs provider needs a long C/cmake build; certificates come from the platform
//! verifier (system trust store).

/// Installs ring as the process default provider unless one is installed already
/// (by us or by another crate) — both outcomes are fine.
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
