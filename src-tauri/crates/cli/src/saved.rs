//! The destinations saved in the app, headless: `onair profiles` lists
//! them (never a key), `--profile NAME` / `--all-profiles` stream to them
//! with their keys from the credential store and their encodings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use onair_output::Destination;
use onair_profiles::secrets::{KeyStore, OsKeyStore};
use onair_profiles::store::{Profile, Store, StoreData};

/// The profiles file: `--profiles`, else the app's.
pub fn path(given: Option<&Path>) -> Result<PathBuf, String> {
    given
        .map(Path::to_path_buf)
        .or_else(onair_profiles::store::default_path)
        .ok_or_else(|| "cannot tell where the app keeps its profiles (no config folder)".into())
}

/// The saved profiles and settings.
pub fn load(given: Option<&Path>) -> Result<StoreData, String> {
    let path = path(given)?;
    Store::new(&path).load().map(|(data, _)| data).map_err(|e| {
        format!(
            "cannot read the saved destinations ({}): {e}",
            path.display()
        )
    })
}

/// The profiles `names` (by name, case-insensitively, or by id) and, with
/// `all`, every one switched on; each once, in the order given.
pub fn select<'a>(
    data: &'a StoreData,
    names: &[String],
    all: bool,
) -> Result<Vec<&'a Profile>, String> {
    let mut out: Vec<&Profile> = Vec::new();
    for want in names {
        let by_id = data.profiles.iter().find(|p| p.id == *want);
        let by_name: Vec<&Profile> = data
            .profiles
            .iter()
            .filter(|p| p.name.trim().eq_ignore_ascii_case(want.trim()))
            .collect();
        let p: &Profile = match (by_id, by_name.as_slice()) {
            (Some(p), _) => p,
            (None, [p]) => p,
            (None, []) => {
                let known: Vec<&str> = data.profiles.iter().map(|p| p.name.as_str()).collect();
                return Err(if known.is_empty() {
                    format!("no saved destination '{want}': the app has none saved")
                } else {
                    format!("no saved destination '{want}'; saved: {}", known.join(", "))
                });
            }
            (None, several) => {
                let ids: Vec<&str> = several.iter().map(|p| p.id.as_str()).collect();
                return Err(format!(
                    "{} saved destinations are called '{want}': give one of their ids ({})",
                    several.len(),
                    ids.join(", ")
                ));
            }
        };
        if !out.iter().any(|o| o.id == p.id) {
            out.push(p);
        }
    }
    if all {
        let on: Vec<&Profile> = data.profiles.iter().filter(|p| p.enabled).collect();
        if on.is_empty() {
            return Err("--all-profiles: no saved destination is switched on".into());
        }
        for p in on {
            if !out.iter().any(|o| o.id == p.id) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// A saved profile's destination, its key read from `keys`, and the index
/// of its encoding in the saved settings' encodings.
pub fn destination(
    p: &Profile,
    data: &StoreData,
    keys: &dyn KeyStore,
) -> Result<(Destination, usize), String> {
    let key = keys
        .get(&p.id)
        .map_err(|e| format!("{}: cannot read its stream key: {e}", p.name))?
        .ok_or_else(|| format!("{}: no stream key is set (set it in the app)", p.name))?;
    let dest = Destination::from_parts(&p.server_url, key)
        .map_err(|e| format!("{}: bad server URL: {e}", p.name))?;
    let encoding = onair_profiles::edit::encoding_index(p, &data.settings).ok_or_else(|| {
        format!(
            "{}: its encoding '{}' is no longer in the settings",
            p.name, p.encoding
        )
    })?;
    Ok((dest, encoding))
}

/// The OS credential store.
pub fn keys() -> OsKeyStore {
    OsKeyStore
}

/// `onair profiles`: one JSON object listing every saved destination, its
/// server, encoding, whether it is switched on and whether a key is set
/// (from the store's attributes: the key itself is not read).
pub fn list(given: Option<&Path>) -> ExitCode {
    let data = match load(given) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("onair: {e}");
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let store = keys();
    let store_ok = OsKeyStore::status();
    if let Err(e) = &store_ok {
        eprintln!("onair: the credential store does not answer ({e}): has_key is null");
    }
    let profiles: Vec<_> = data
        .profiles
        .iter()
        .map(|p| {
            let has_key = store_ok.as_ref().ok().and_then(|_| store.has(&p.id).ok());
            serde_json::json!({
                "id": p.id,
                "name": p.name,
                "platform": p.platform,
                "server_url": p.server_url,
                "enabled": p.enabled,
                "encoding": if p.encoding.is_empty() { onair_profiles::encoding::DEFAULT_NAME } else { p.encoding.as_str() },
                "has_key": has_key,
            })
        })
        .collect();
    println!("{}", serde_json::json!({ "profiles": profiles }));
    ExitCode::SUCCESS
}
