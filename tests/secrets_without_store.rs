//! Without a credential store the app is told so, and nothing falls back
//! to plain text.

use onair_profiles::secrets::{validate_key, KeyStore, OsKeyStore, SecretError};

#[test]
fn no_secret_service_is_reported_and_no_key_is_kept() {
    // A bus address where nothing listens.
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}/nobody", dir.path().display()),
    );
    let e = OsKeyStore::status().unwrap_err();
    assert!(matches!(e, SecretError::NoStore(_)), "{e:?}");
    assert!(e.to_string().contains("never saved in plain text"), "{e}");
    let set = OsKeyStore.set("p", &validate_key("live_k").unwrap());
    assert!(matches!(set, Err(SecretError::NoStore(_))), "{set:?}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}
