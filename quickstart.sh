#!/usr/bin/env bash
# OnAir's two commands, on a fresh Debian 12 / Ubuntu machine:
#   ./quickstart.sh app    install what is missing, build, launch the desktop app
#   ./quickstart.sh test   install what is missing, build, run every test
# Needs bash, apt and a Rust toolchain; run as root or as a user with sudo.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
MODE=${1:-}
case "$MODE" in app|test) ;; *) echo "usage: $0 app|test" >&2; exit 2 ;; esac

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "run as root, or install sudo: the script installs Debian packages" >&2; exit 1; fi

BUILD_PKGS=(build-essential pkg-config nasm libclang-dev libasound2-dev libwebkit2gtk-4.1-dev
  libxdo-dev libssl-dev librsvg2-dev libayatana-appindicator3-dev curl file ca-certificates)
TEST_PKGS=(nginx libnginx-mod-rtmp libnginx-mod-stream ffmpeg xvfb xauth webkit2gtk-driver
           pulseaudio pulseaudio-utils libasound2-plugins sox espeak-ng dbus gnome-keyring xdotool)
NODE_PKGS=(nodejs npm)

missing=()
want=("${BUILD_PKGS[@]}")
[ "$MODE" = test ] && want+=("${TEST_PKGS[@]}")
command -v node >/dev/null && command -v npm >/dev/null || want+=("${NODE_PKGS[@]}")
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  # Do not start the packaged nginx service: tests run their own.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v nasm >/dev/null || { echo "nasm is required (openh264 is ~3x slower without it)" >&2; exit 1; }

if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "No Rust toolchain found. Install one with rustup (https://rustup.rs):" >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
  exit 1
fi

say "installing node packages"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
say "building the UI"
npm run --silent build

if [ "$MODE" = app ]; then
  say "building the app (the first build takes several minutes)"
  cargo build --release --locked -p onair-app -p onair-cli
  if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "no display: run this from a desktop session (or set DISPLAY)" >&2; exit 1
  fi
  say "launching OnAir"
  exec "$ROOT/target/release/onair-app"
fi

# ---- test
TOOLS="$ROOT/target/tools"
if [ ! -x "$TOOLS/bin/tauri-driver" ]; then
  say "installing tauri-driver"
  cargo install --locked --root "$TOOLS" tauri-driver@2.1.0
fi
export PATH="$TOOLS/bin:$PATH"
say "formatting and lints"
cargo fmt --all -- --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings
npm run --silent typecheck
say "building (release, once)"
cargo build --release --locked --workspace --bins
if [ ! -x "$TOOLS/bin/cargo-tauri" ]; then
  say "installing the Tauri bundler (tauri-cli; once, several minutes)"
  # A debug build: half the compile time, and bundling is quick either way.
  cargo install --locked --debug --root "$TOOLS" tauri-cli@2.12.4
fi
say "building the packages (.deb and .rpm) from that build"
# The packages carry no debug info (193 MB -> 30 MB for the app).
strip --strip-debug target/release/onair target/release/onair-app
rm -rf target/release/bundle
(cd src-tauri && cargo-tauri bundle --bundles deb,rpm --ci)
say "running the tests"
npm test --silent
export ONAIR_BIN_DIR="$ROOT/target/release"
cargo test --release --locked --workspace --no-fail-fast
