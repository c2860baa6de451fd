//! The capture's feed to the window — the preview picture and the meters —
//! pulled by the page over the app's own URI scheme instead of pushed over
//! a Tauri channel: each message is one `fetch` answered from memory (a
//! channel costs the web view a script evaluation and a fetch per message),
//! and a page that is slow or gone makes nothing pile up — only the newest
//! message waits.
//!
//! The page asks `onair-capture://localhost/next?after=N` (N: the number of
//! the last message it has, 0 at first); the answer is the newest message
//! as soon as there is one other than N, or `204 No Content` after [`WAIT`]
//! without one (a hidden window, no sources).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use onair_engine::CaptureFeed;
use tauri::http::{Request, Response, StatusCode};
use tokio::sync::watch;

/// The URI scheme.
pub const SCHEME: &str = "onair-capture";

/// How long a request waits for a message before `204`.
pub const WAIT: Duration = Duration::from_secs(2);

/// The header's length.
pub const HEADER: usize = 16;

/// The newest message and its number (from 1; an empty message: none waits).
#[derive(Debug)]
pub struct Mailbox {
    newest: watch::Sender<(u32, Arc<Vec<u8>>)>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Self {
            newest: watch::Sender::new((0, Arc::new(Vec::new()))),
        }
    }
}

impl Mailbox {
    /// Replaces the waiting message (taken or not) with `feed`.
    pub fn post(&self, feed: &CaptureFeed) {
        self.newest.send_modify(|(seq, bytes)| {
            *seq = seq.wrapping_add(1).max(1);
            *bytes = Arc::new(encode(*seq, feed));
        });
    }

    /// Drops the waiting message (a new window gets none of the sources
    /// shown before); its number stays, so no page takes an old one again.
    pub fn clear(&self) {
        self.newest
            .send_modify(|(_, bytes)| *bytes = Arc::new(Vec::new()));
    }

    /// The newest message unless it is number `after` (the one the page
    /// has), waiting up to `wait` for another. A page that has none, or
    /// whose number is not the app's (it restarted), gets the newest at once.
    pub async fn next_after(&self, after: u32, wait: Duration) -> Option<Arc<Vec<u8>>> {
        let mut rx = self.newest.subscribe();
        let fresh = |(seq, m): &(u32, Arc<Vec<u8>>)| !m.is_empty() && *seq != after;
        let found = tokio::time::timeout(wait, async move {
            rx.wait_for(fresh).await.map(|m| m.1.clone())
        });
        found.await.ok()?.ok()
    }
}

/// One message: a 16-byte header — the picture's width and height (u16,
/// little-endian; 0 × 0 when there is no new picture), flags (bit 0:
/// BT.709, else BT.601; limited range), 3 spare, the length of the meters
/// (u32, little-endian; 0 when none), the message's number (u32,
/// little-endian) — then the meters as JSON, then the picture's Y, U and V
/// planes.
pub fn encode(seq: u32, c: &CaptureFeed) -> Vec<u8> {
    // A `MeterUpdate` always serialises (plain numbers, strings, bools).
    let meters = c
        .meters
        .as_ref()
        .and_then(|m| serde_json::to_vec(m).ok())
        .unwrap_or_default();
    let picture = c.picture.as_ref();
    let size = |v: u32| v.min(u16::MAX.into()) as u16;
    let mut b = Vec::with_capacity(HEADER + meters.len() + picture.map_or(0, |p| p.i420.len()));
    b.extend_from_slice(&picture.map_or(0, |p| size(p.width)).to_le_bytes());
    b.extend_from_slice(&picture.map_or(0, |p| size(p.height)).to_le_bytes());
    b.extend_from_slice(&[u8::from(picture.is_some_and(|p| p.bt709)), 0, 0, 0]);
    b.extend_from_slice(&(meters.len() as u32).to_le_bytes());
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend_from_slice(&meters);
    if let Some(p) = picture {
        b.extend_from_slice(&p.i420);
    }
    b
}

/// The `after` of a request's query (0 when absent or not a number).
fn after_of(request: &Request<Vec<u8>>) -> u32 {
    request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("after="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Answers one request of the scheme from `mailbox` (on the async runtime:
/// the web view's thread is never held).
pub fn answer(
    mailbox: Arc<Mailbox>,
    request: Request<Vec<u8>>,
    responder: tauri::UriSchemeResponder,
) {
    let after = after_of(&request);
    tauri::async_runtime::spawn(async move {
        let message = mailbox.next_after(after, WAIT).await;
        responder.respond(response(message));
    });
}

/// The response carrying `message`, or 204 without one.
fn response(message: Option<Arc<Vec<u8>>>) -> Response<Cow<'static, [u8]>> {
    let (status, body) = match message {
        Some(m) => (StatusCode::OK, Cow::Owned(m.as_ref().clone())),
        None => (StatusCode::NO_CONTENT, Cow::Borrowed(&[][..])),
    };
    Response::builder()
        .status(status)
        .header("Content-Type", "application/octet-stream")
        // The page's origin (tauri://localhost) is not this scheme's.
        .header("Access-Control-Allow-Origin", "*")
        .header("Cache-Control", "no-store")
        .body(body)
        .unwrap_or_else(|_| Response::new(Cow::Borrowed(&[][..])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair_engine::MeterUpdate;
    use onair_media::preview::PreviewFrame;

    fn picture() -> PreviewFrame {
        PreviewFrame {
            seq: 7,
            width: 384,
            height: 216,
            i420: (0..384 * 216 * 3 / 2).map(|i| i as u8).collect(),
            bt709: true,
        }
    }

    #[test]
    fn a_message_is_its_header_then_the_meters_then_the_planes_as_they_are() {
        let meters = MeterUpdate::silent();
        let json = serde_json::to_vec(&meters).unwrap();
        let both = CaptureFeed {
            picture: Some(picture()),
            meters: Some(meters.clone()),
        };
        let b = encode(5, &both);
        let mut header = vec![128, 1, 216, 0, 1, 0, 0, 0];
        header.extend_from_slice(&(json.len() as u32).to_le_bytes());
        header.extend_from_slice(&5u32.to_le_bytes());
        assert_eq!(&b[..HEADER], &header[..]);
        assert_eq!(&b[HEADER..HEADER + json.len()], &json[..]);
        assert_eq!(&b[HEADER + json.len()..], &picture().i420[..]);

        let sd = CaptureFeed {
            picture: Some(PreviewFrame {
                bt709: false,
                ..picture()
            }),
            meters: None,
        };
        let b = encode(6, &sd);
        assert_eq!((b[4], &b[8..12]), (0, &[0u8; 4][..]), "BT.601, no meters");
        assert_eq!(b.len(), HEADER + 384 * 216 * 3 / 2);

        let meters_only = CaptureFeed {
            picture: None,
            meters: Some(meters),
        };
        let b = encode(7, &meters_only);
        assert_eq!(&b[..8], &[0; 8], "no picture");
        assert_eq!(&b[HEADER..], &json[..]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_gets_the_newest_message_after_its_own_at_once_or_when_one_comes() {
        let mailbox = Arc::new(Mailbox::default());
        let feed = |db: f32| CaptureFeed {
            picture: None,
            meters: Some(MeterUpdate {
                mix: onair_engine::Level {
                    peak_dbfs: Some(db),
                    rms_dbfs: None,
                    hold_dbfs: None,
                },
                ..MeterUpdate::silent()
            }),
        };
        let seq = |m: &[u8]| u32::from_le_bytes(m[12..16].try_into().unwrap());
        // Nothing yet: the request waits, then gets nothing.
        assert!(mailbox.next_after(0, WAIT).await.is_none());
        // Two messages while the page was busy: it gets the newest.
        mailbox.post(&feed(-20.0));
        mailbox.post(&feed(-10.0));
        let m = mailbox.next_after(0, WAIT).await.unwrap();
        assert_eq!(seq(&m), 2);
        // Having it, the page waits for the next, which comes while it waits.
        let waiting = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.next_after(2, WAIT).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        mailbox.post(&feed(-5.0));
        assert_eq!(seq(&waiting.await.unwrap().unwrap()), 3);
        // A page numbered ahead of the app (the app restarted) is answered
        // with the newest at once.
        assert_eq!(seq(&mailbox.next_after(40, WAIT).await.unwrap()), 3);
        // A new window: what was shown before is not given to it.
        mailbox.clear();
        assert!(mailbox.next_after(0, WAIT).await.is_none());
        mailbox.post(&feed(-5.0));
        assert_eq!(seq(&mailbox.next_after(0, WAIT).await.unwrap()), 4);
    }

    #[test]
    fn the_number_a_page_has_is_read_from_the_query() {
        let req = |uri: &str| Request::builder().uri(uri).body(Vec::new()).unwrap();
        assert_eq!(
            after_of(&req("onair-capture://localhost/next?after=41")),
            41
        );
        assert_eq!(
            after_of(&req("onair-capture://localhost/next?x=1&after=7")),
            7
        );
        assert_eq!(after_of(&req("onair-capture://localhost/next")), 0);
        assert_eq!(after_of(&req("onair-capture://localhost/next?after=-3")), 0);
    }
}
