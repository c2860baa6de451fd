//! The real app window, driven through tauri-driver + WebKitWebDriver under
//! Xvfb, streaming to a real nginx-rtmp.

use std::time::Duration;

use onair_tests::webdriver::{Session, TauriDriver, Xvfb};
use onair_tests::{binary, Nginx, GOOD_KEY};

#[test]
fn go_live_from_the_window_reaches_live_and_stop_ends_the_stream() {
    let nginx = Nginx::start();
    let xvfb = Xvfb::start();
    let driver = TauriDriver::start(&xvfb.display);
    let app = binary("onair-app");
    let s = Session::new(&driver, &app);

    s.type_into(
        "#server-url",
        &format!("rtmp://127.0.0.1:{}/live", nginx.rtmp_port),
    );
    s.type_into("#stream-key", GOOD_KEY);
    s.click("#go-live");

    let live = s.wait_until(Duration::from_secs(10), |s| {
        s.text("#state") == "live" && s.text("#bitrate").parse::<f64>().unwrap_or(0.0) > 0.0
    });
    assert!(
        live,
        "state {:?} bitrate {:?}",
        s.text("#state"),
        s.text("#bitrate")
    );
    let stat = nginx.stat();
    assert!(
        stat.contains(&format!("<name>{GOOD_KEY}</name>")),
        "stat page: {stat}"
    );
    if let Ok(path) = std::env::var("ONAIR_SCREENSHOT") {
        let _ = std::fs::write(path, s.screenshot_png());
    }

    s.click("#stop");
    assert!(s.wait_until(Duration::from_secs(5), |s| s.text("#state") == "stopped"));
    let gone = s.wait_until(Duration::from_secs(5), |_| {
        !nginx.stat().contains(&format!("<name>{GOOD_KEY}</name>"))
    });
    assert!(gone, "stream still listed after Stop: {}", nginx.stat());
    assert!(nginx.recording(GOOD_KEY).exists());
}
