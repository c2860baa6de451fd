//! openh264's build quietly falls back to plain C (about 3x slower) when
//! `nasm` is missing. A live encoder cannot afford that: fail loudly instead.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PATH");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch == "x86_64" || arch == "x86" {
        let ok = Command::new("nasm")
            .arg("-v")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            panic!(
                "\n\nnasm was not found on PATH.\n\
                 openh264 needs it for its SIMD assembly; without it the encoder is about 3x slower.\n\
                 Install it (Debian/Ubuntu: `apt-get install nasm`) or run the README's setup command.\n\n"
            );
        }
    }
}
