//! Stream keys in the OS credential store (`keyring`: the Secret Service on
//! Linux, the Keychain on macOS, the Credential Manager on Windows), one
//! entry per destination profile. Never a plaintext fallback: where no store
//! is available, setting a key fails with [`SecretError::NoStore`] and the
//! app says so.

use onair_rtmp::StreamKey;

/// The service name entries are stored under.
pub const SERVICE: &str = "OnAir stream keys";
/// Longest key accepted (keys with query strings run to ~200 bytes).
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a key could not be stored or read. Never carries the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No credential store is running (on Linux: no Secret Service on the
    /// session bus, e.g. no GNOME Keyring or KWallet).
    #[error("no credential store is available ({0}); stream keys are never saved in plain text, so start your desktop's keyring (GNOME Keyring, KWallet) and try again")]
    NoStore(String),
    /// The store is there but refused (locked, denied).
    #[error("the credential store refused: {0}")]
    Refused(String),
    /// An empty, too long or multi-line key.
    #[error("a stream key must be 1 to 1024 characters on one line")]
    BadKey,
}

/// Where keys are kept.
pub trait KeyStore: Send + Sync {
    /// Stores (or replaces) the key of profile `id`.
    fn set(&self, id: &str, key: &StreamKey) -> Result<(), SecretError>;
    /// The key of profile `id`, if one is set.
    fn get(&self, id: &str) -> Result<Option<StreamKey>, SecretError>;
    /// Removes the key of profile `id` (no error if there was none).
    fn delete(&self, id: &str) -> Result<(), SecretError>;
    /// Whether a key is set, without handing it out.
    fn has(&self, id: &str) -> Result<bool, SecretError> {
        self.get(id).map(|k| k.is_some())
    }
}

/// Checks a key typed by the user.
pub fn validate_key(key: &str) -> Result<StreamKey, SecretError> {
    let k = key.trim();
    if k.is_empty() || k.len() > MAX_KEY_BYTES || k.contains(['\n', '\r']) {
        return Err(SecretError::BadKey);
    }
    Ok(StreamKey::new(k))
}

/// The OS credential store through `keyring`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsKeyStore;

fn map_err(e: keyring::Error) -> SecretError {
    match e {
        keyring::Error::NoDefaultStore
        | keyring::Error::PlatformFailure(_)
        | keyring::Error::NoStorageAccess(_) => SecretError::NoStore(e.to_string()),
        other => SecretError::Refused(other.to_string()),
    }
}

impl OsKeyStore {
    /// Whether a store is reachable; the reason if not.
    pub fn status() -> Result<(), SecretError> {
        keyring::Entry::store_status()
            .as_ref()
            .map_err(|e| SecretError::NoStore(e.to_string()))?;
        // Reading an entry that does not exist proves the store answers.
        match keyring::Entry::new(SERVICE, "onair-probe").and_then(|e| e.get_password()) {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    fn entry(id: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(SERVICE, id).map_err(map_err)
    }
}

impl KeyStore for OsKeyStore {
    fn set(&self, id: &str, key: &StreamKey) -> Result<(), SecretError> {
        Self::entry(id)?.set_password(key.expose()).map_err(map_err)
    }

    fn get(&self, id: &str) -> Result<Option<StreamKey>, SecretError> {
        match Self::entry(id)?.get_password() {
            Ok(k) => Ok(Some(StreamKey::new(k))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    /// From the item's attributes: the secret itself is not read (no
    /// unlock prompt for a locked keyring, nothing decrypted).
    fn has(&self, id: &str) -> Result<bool, SecretError> {
        match Self::entry(id)?.inner.get_attributes() {
            Ok(_) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }

    fn delete(&self, id: &str) -> Result<(), SecretError> {
        match Self::entry(id)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }
}
