//! Headless streaming to the destinations saved in the app: the profiles
//! file as the app writes it, the keys in a real Secret Service (GNOME
//! Keyring on a private bus), a real nginx-rtmp. One test in this binary:
//! it points the process's keyring client at its private bus.

use std::process::Command;

use onair_profiles::encoding::Encoding;
use onair_profiles::secrets::{validate_key, KeyStore, OsKeyStore};
use onair_profiles::store::{Profile, Settings, Store, StoreData};
use onair_tests::keyring::SecretService;
use onair_tests::{binary, ffprobe_json, num, Nginx, OnairRun, GOOD_KEY};

fn profile(id: &str, name: &str, server_url: &str, enabled: bool, encoding: &str) -> Profile {
    Profile {
        id: id.into(),
        name: name.into(),
        platform: "custom".into(),
        server_url: server_url.into(),
        enabled,
        encoding: encoding.into(),
        extra: Default::default(),
    }
}

#[test]
fn saved_destinations_stream_headless_with_their_keys_and_encodings_and_are_listed_without_keys() {
    let service = SecretService::start();
    // The keyring client of this process reads the bus address once.
    for (k, v) in service.env() {
        std::env::set_var(k, v);
    }
    let mut env = service.env();
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profiles.json");
    let server = nginx.url("x").trim_end_matches("/x").to_owned();
    let (key_a, key_b) = (format!("{GOOD_KEY}_main"), format!("{GOOD_KEY}_vert"));
    let vertical: Encoding = "vertical=360x640@30:800:1".parse().unwrap();
    let data = StoreData {
        version: 1,
        profiles: vec![
            profile("p-main", "Main Channel", &server, false, ""),
            profile("p-vert", "Shorts", &server, true, "vertical"),
            profile("p-nokey", "No Key Yet", &server, false, ""),
        ],
        settings: Settings {
            width: 640,
            height: 360,
            video_kbps: 800,
            encodings: vec![vertical],
            ..Settings::default()
        },
        extra: Default::default(),
    };
    Store::new(&file).save(&data).unwrap();
    OsKeyStore
        .set("p-main", &validate_key(&key_a).unwrap())
        .unwrap();
    OsKeyStore
        .set("p-vert", &validate_key(&key_b).unwrap())
        .unwrap();

    // `onair profiles`: every saved destination, whether a key is set, and
    // never a key.
    let out = Command::new(binary("onair"))
        .args(["profiles", "--profiles"])
        .arg(&file)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains(GOOD_KEY), "a key was printed: {text}");
    let listed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let list = listed["profiles"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["name"], "Main Channel");
    assert_eq!(list[0]["encoding"], "main");
    assert_eq!(list[1]["encoding"], "vertical");
    assert_eq!(list[0]["has_key"], true);
    assert_eq!(list[1]["has_key"], true);
    assert_eq!(list[2]["has_key"], false);

    // One by name (switched off in the app, still picked) and every one
    // switched on: both go live, each with its encoding.
    let file_arg = file.display().to_string();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut run = OnairRun::stream_env(
        &[
            "--profile".into(),
            "main channel".into(),
            "--all-profiles".into(),
            "--profiles".into(),
            file_arg.clone(),
            "--duration".into(),
            "4".into(),
        ],
        &env_refs,
    );
    let (status, stderr) = run.finish();
    assert!(status.success(), "exit {status:?}\n{stderr}");
    assert!(
        !stderr.contains(&key_a) && !stderr.contains(&key_b),
        "{stderr}"
    );
    for (key, w, h) in [(&key_a, 640.0, 360.0), (&key_b, 360.0, 640.0)] {
        let info = ffprobe_json(&nginx.recording(key), &["-show_streams"]);
        let v = info["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == "video")
            .cloned()
            .expect("video");
        assert_eq!((num(&v["width"]), num(&v["height"])), (w, h), "{key}");
    }
    let encodings: Vec<String> = run
        .lines
        .iter()
        .filter(|(_, v)| v["event"] == "connected")
        .map(|(_, v)| v["encoding"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        encodings.contains(&"main".to_owned()) && encodings.contains(&"vertical".to_owned()),
        "{encodings:?}"
    );

    // A destination without a key, an unknown name, or picture flags that
    // would fight the saved encodings: exit 2 with a clear message.
    env.push(("RUST_LOG".into(), "off".into()));
    for (args, want) in [
        (
            vec!["--profile", "No Key Yet"],
            "No Key Yet: no stream key is set",
        ),
        (vec!["--profile", "Nope"], "no saved destination 'Nope'"),
        (
            vec!["--profile", "Shorts", "--size", "1280x720"],
            "encodings saved in the app",
        ),
    ] {
        let out = Command::new(binary("onair"))
            .arg("stream")
            .args(&args)
            .args(["--profiles", &file_arg, "--duration", "1"])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
