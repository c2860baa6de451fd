//! The installed package: the `.deb` the test command builds
//! (`target/release/bundle/deb/`), its contents, installed with apt (so its
//! `Depends` are proven), the installed `/usr/bin/onair-app` driven through
//! WebDriver under Xvfb to a Go Live to the stream check and back, then
//! removed. Needs root or password-less sudo (the test command runs as one).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use onair_tests::root;
use onair_tests::webdriver::{App, Session};

/// The package's name in dpkg.
const PACKAGE: &str = "on-air";

fn the_deb() -> PathBuf {
    let dir = root().join("target/release/bundle/deb");
    let debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the test command builds the .deb first)",
                dir.display()
            )
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "one .deb in {}: {debs:?}", dir.display());
    debs.into_iter().next().unwrap()
}

/// Runs a command as root (directly when root, else through `sudo -n`).
fn as_root(args: &[&str]) -> std::process::Output {
    let root_now = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut c = if root_now {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").args(args);
        c
    };
    c.env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .expect("run as root")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Removes the package when the test ends, however it ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = as_root(&["apt-get", "remove", "-y", "-q", PACKAGE]);
    }
}

#[test]
fn the_deb_installs_with_apt_runs_from_the_menu_goes_live_and_removes_cleanly() {
    let deb = the_deb();
    // What is inside: both programs, the desktop entry, every icon size.
    let listing = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let paths: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches("./"))
        .collect();
    for want in [
        "usr/bin/onair-app",
        "usr/bin/onair",
        "usr/share/applications/OnAir.desktop",
    ] {
        assert!(
            paths.contains(&want),
            "{want} is not in the package:\n{listing}"
        );
    }
    for size in [
        "16x16", "24x24", "32x32", "48x48", "64x64", "128x128", "256x256", "512x512",
    ] {
        let icon = format!("usr/share/icons/hicolor/{size}/apps/onair-app.png");
        assert!(paths.contains(&icon.as_str()), "no {size} icon:\n{listing}");
    }
    let field = |f: &str| {
        let o = Command::new("dpkg-deb")
            .arg("-f")
            .arg(&deb)
            .arg(f)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(field("Package"), PACKAGE);
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    let depends = field("Depends");
    for lib in [
        "libwebkit2gtk-4.1-0",
        "libgtk-3-0",
        "libasound2",
        "libdbus-1-3",
        // Loaded at run time for the panel indicator (not in NEEDED).
        "libayatana-appindicator3-1",
    ] {
        assert!(depends.contains(lib), "Depends lacks {lib}: {depends}");
    }
    assert!(!field("Description").is_empty());

    // Installed with apt, which resolves (and so proves) its Depends.
    let _ = as_root(&["apt-get", "remove", "-y", "-q", PACKAGE]);
    let out = as_root(&[
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        &deb.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "apt-get install failed:\n{}",
        text(&out)
    );
    let _installed = Installed;
    let desktop = std::fs::read_to_string("/usr/share/applications/OnAir.desktop").unwrap();
    assert!(desktop.contains("Exec=onair-app"), "{desktop}");
    assert!(
        desktop.contains("Categories=AudioVideo;Video;"),
        "{desktop}"
    );

    // The command and the app say the same version.
    let v = Command::new("/usr/bin/onair")
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("onair {}", env!("CARGO_PKG_VERSION"))
    );

    // The installed app, away from any checkout: it loads, shows its
    // version, goes live to the stream check and ends.
    let app = App::start();
    let s = app.open_at(Path::new("/usr/bin/onair-app"));
    assert!(
        s.prop("#about", "textContent")
            .unwrap_or_default()
            .contains(&format!("OnAir {}", env!("CARGO_PKG_VERSION"))),
        "{:?}",
        s.prop("#about", "textContent")
    );
    s.click("#go-live");
    let state = |s: &Session| {
        s.prop("#cards .card:nth-child(1) .card-state", "textContent")
            .unwrap_or_default()
    };
    assert!(
        s.wait_until(Duration::from_secs(20), |s| state(s) == "Live"),
        "the check card: {} {}",
        state(&s),
        s.text("#studio-error")
    );
    s.click("#go-live");
    assert!(s.wait_until(Duration::from_secs(10), |s| s.text("#go-live") == "Go Live"));
    drop(s);
    drop(app);

    // Removed: nothing of it left in /usr/bin.
    let out = as_root(&["apt-get", "remove", "-y", "-q", PACKAGE]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!Path::new("/usr/bin/onair-app").exists());
    assert!(!Path::new("/usr/bin/onair").exists());
}
