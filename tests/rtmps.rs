//! RTMPS through a TLS front (nginx `stream` module) with certificates from a
//! throwaway CA made here; the CA is trusted for the onair process only,
//! through the standard `SSL_CERT_FILE`.

use onair_tests::{video_frames, Nginx, OnairRun, GOOD_KEY};
use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

struct Pki {
    ca_pem: String,
    valid: (String, String),
    expired: (String, String),
    self_signed: (String, String),
    wrong_host: (String, String),
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "OnAir throwaway test CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: &[&str], expired: bool| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        if expired {
            p.not_before = date_time_ymd(2020, 1, 1);
            p.not_after = date_time_ymd(2021, 1, 1);
        }
        (
            p.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    };
    let self_signed = {
        let key = KeyPair::generate().unwrap();
        let p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
    };
    Pki {
        ca_pem,
        valid: leaf(&["localhost"], false),
        expired: leaf(&["localhost"], true),
        self_signed,
        wrong_host: leaf(&["stream.example.net"], false),
    }
}

#[test]
fn rtmps_publishes_through_tls_and_refuses_bad_certificates_each_with_its_own_message() {
    let pki = pki();
    let nginx = Nginx::start_with_tls(&[
        pki.valid.clone(),
        pki.expired.clone(),
        pki.self_signed.clone(),
        pki.wrong_host.clone(),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let ca = ca_file.to_str().unwrap();
    let url = |i: usize, key: &str| format!("rtmps://localhost:{}/live/{key}", nginx.tls_ports[i]);
    let (good, k_exp, k_self, k_host) = (
        format!("{GOOD_KEY}_tls"),
        format!("{GOOD_KEY}_expired"),
        format!("{GOOD_KEY}_selfsigned"),
        format!("{GOOD_KEY}_wronghost"),
    );
    let mut run = OnairRun::stream_env(
        &[
            "--duration".into(),
            "5".into(),
            "--size".into(),
            "640x360".into(),
            url(0, &good),
            url(1, &k_exp),
            url(2, &k_self),
            url(3, &k_host),
        ],
        &[
            ("SSL_CERT_FILE", ca),
            ("SSL_CERT_DIR", dir.path().to_str().unwrap()),
        ],
    );
    let (status, stderr) = run.finish();
    // The three bad certificates never went live: exit 4.
    assert_eq!(status.code(), Some(4), "{status:?} {stderr}");
    assert_eq!(stderr.matches("never went live").count(), 3, "{stderr}");

    let frames = video_frames(&nginx.recording(&good));
    assert_eq!(frames.len(), 150, "5 s at 30 fps through TLS");
    let live = run.stats_of(&format!(":{}/", nginx.tls_ports[0]));
    assert!(live.iter().any(|v| v["state"] == "live"));

    for (i, want) in [
        (1, "has expired"),
        (2, "not trusted"),
        (3, "for another host name"),
    ] {
        let stats = run.stats_of(&format!(":{}/", nginx.tls_ports[i]));
        assert!(
            stats.iter().all(|v| v["state"] != "live"),
            "port {i} went live"
        );
        let errors: Vec<&str> = stats.iter().filter_map(|v| v["error"].as_str()).collect();
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "front {i}: wanted '{want}' in {errors:?}"
        );
    }
    for k in [&k_exp, &k_self, &k_host] {
        assert!(!nginx.recording(k).exists());
    }
}

#[test]
fn without_the_test_ca_the_valid_chain_is_untrusted() {
    let pki = pki();
    let nginx = Nginx::start_with_tls(std::slice::from_ref(&pki.valid));
    let mut run = OnairRun::stream(&[
        "--duration".into(),
        "2".into(),
        "--size".into(),
        "320x180".into(),
        format!("rtmps://localhost:{}/live/{GOOD_KEY}", nginx.tls_ports[0]),
    ]);
    let (status, stderr) = run.finish();
    assert_eq!(status.code(), Some(4), "never live: {stderr}");
    let stats = run.stats_of(&format!(":{}/", nginx.tls_ports[0]));
    assert!(stats.iter().any(|v| v["error"]
        .as_str()
        .is_some_and(|e| e.contains("not trusted"))));
}
