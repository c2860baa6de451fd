//! Stream keys in a real Secret Service (GNOME Keyring on a private bus).

use onair_profiles::secrets::{validate_key, KeyStore, OsKeyStore, SecretError};
use onair_tests::keyring::SecretService;

#[test]
fn keys_are_set_replaced_read_and_deleted_in_the_secret_service() {
    let service = SecretService::start();
    // The first keyring call of this process reads the bus address.
    for (k, v) in service.env() {
        std::env::set_var(k, v);
    }
    OsKeyStore::status().expect("the store answers");
    let store = OsKeyStore;
    let id = "profile-7f3a";
    assert!(!store.has(id).unwrap());
    store
        .set(id, &validate_key("live_123_first").unwrap())
        .unwrap();
    assert!(store.has(id).unwrap());
    store
        .set(id, &validate_key(" live_123_second ").unwrap())
        .unwrap();
    assert_eq!(store.get(id).unwrap().unwrap().expose(), "live_123_second");
    assert!(
        !store.has("another-profile").unwrap(),
        "keys are per profile"
    );
    store.delete(id).unwrap();
    assert!(!store.has(id).unwrap());
    store.delete(id).unwrap();
    // The key is stored by the daemon, not in any file of ours in plain text.
    let on_disk = walk(service.dir());
    assert!(!on_disk
        .iter()
        .any(|b| b.windows(15).any(|w| w == b"live_123_second")));
}

#[test]
fn bad_keys_are_refused_before_reaching_the_store() {
    for bad in ["", "   ", "two\nlines", &"k".repeat(2000)] {
        assert_eq!(validate_key(bad).unwrap_err(), SecretError::BadKey);
    }
}

fn walk(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if let Ok(b) = std::fs::read(&p) {
                out.push(b);
            }
        }
    }
    out
}
