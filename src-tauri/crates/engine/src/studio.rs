//! The app's Studio: at most one [`Session`] at a time, what starts and
//! stops it (Go Live, End Stream, a recording started or stopped on its
//! own), the feeds to a window while it runs, and the last stream check's
//! report after it ended.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use onair_check::CheckReport;
use onair_media::preview::PreviewFrame;
use onair_record::RecordingSummary;

use crate::session::{GoLive, LiveUpdate, MeterUpdate, Session, SessionError};
use crate::{EngineConfig, PREVIEW_FPS};

/// Where a running session reports to. Each returns `false` once nobody
/// listens any more (the feed then stops).
pub struct Feeds {
    /// Once a second.
    pub on_update: Box<dyn FnMut(LiveUpdate) -> bool + Send>,
    /// Every new preview picture, at most [`PREVIEW_FPS`] a second.
    pub on_preview: Box<dyn FnMut(PreviewFrame) -> bool + Send>,
    /// The audio meters, [`METER_HZ`] times a second.
    pub on_meters: Box<dyn FnMut(MeterUpdate) -> bool + Send>,
}

/// How often the meters go to a window.
pub const METER_HZ: u64 = 20;

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feeds")
    }
}

#[derive(Debug)]
struct Running {
    session: Arc<Session>,
    feeds: Vec<tokio::task::JoinHandle<()>>,
}

/// The tasks that feed a window from `session`: the meters, the updates
/// and the preview pictures.
fn spawn_feeds(session: &Arc<Session>, feeds: Feeds) -> Vec<tokio::task::JoinHandle<()>> {
    let Feeds {
        mut on_update,
        mut on_preview,
        mut on_meters,
    } = feeds;
    let s = session.clone();
    let meters = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / METER_HZ));
        loop {
            tick.tick().await;
            if let Some(m) = s.meters() {
                if !on_meters(m) {
                    break;
                }
            }
        }
    });
    let s = session.clone();
    let updates = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if !on_update(s.update()) {
                break;
            }
        }
    });
    let preview = session.engine().preview().clone();
    let pictures = tokio::spawn(async move {
        let period = Duration::from_millis(1000 / u64::from(PREVIEW_FPS));
        let mut tick = tokio::time::interval(period);
        let mut seq = 0;
        loop {
            tick.tick().await;
            if let Some(f) = preview.newer_than(seq) {
                seq = f.seq;
                if !on_preview(f) {
                    break;
                }
            }
        }
    });
    vec![updates, pictures, meters]
}

impl Running {
    fn new(session: Session, feeds: Feeds) -> Self {
        let session = Arc::new(session);
        let feeds = spawn_feeds(&session, feeds);
        Self { session, feeds }
    }

    /// Feeds a new window (after a reload) instead of the old one.
    async fn replace_feeds(&mut self, feeds: Feeds) {
        self.stop_feeds().await;
        self.feeds = spawn_feeds(&self.session, feeds);
    }

    /// Stops the feeds and waits for them: none holds the session after.
    async fn stop_feeds(&mut self) {
        for f in &self.feeds {
            f.abort();
        }
        for f in self.feeds.drain(..) {
            let _ = f.await;
        }
    }

    /// Stops the feeds, then the session.
    async fn stop(mut self) {
        self.stop_feeds().await;
        match Arc::try_unwrap(self.session) {
            Ok(s) => {
                s.stop().await;
            }
            // Only the feeds held it, and they are gone.
            Err(_) => tracing::error!("the session is still shared; it stops when dropped"),
        }
    }
}

/// The app's live state: idle, recording, streaming, or both.
#[derive(Debug, Default)]
pub struct Studio {
    running: Option<Running>,
    last_check: Option<CheckReport>,
}

impl Studio {
    /// Idle.
    pub fn new() -> Self {
        Self::default()
    }

    /// The running session (streaming, recording or both).
    pub fn session(&self) -> Option<&Session> {
        self.running.as_ref().map(|r| &*r.session)
    }

    /// A window (re)opened while a session runs — the web view reloaded
    /// after a crash, say — takes over its feeds: returns what runs now,
    /// or `None` when idle (the feeds are then dropped).
    pub async fn attach(&mut self, feeds: Feeds) -> Option<LiveUpdate> {
        let r = self.running.as_mut()?;
        r.replace_feeds(feeds).await;
        Some(r.session.update())
    }

    /// Streaming to destinations.
    pub fn is_streaming(&self) -> bool {
        self.session().is_some_and(Session::is_streaming)
    }

    /// Goes live: starts the engine with `config` and `feeds`, or, while
    /// recording, sends the running encode to `live`'s destinations too.
    pub async fn go_live(
        &mut self,
        config: EngineConfig,
        live: GoLive,
        feeds: Feeds,
    ) -> Result<(), SessionError> {
        match &self.running {
            Some(r) => r.session.go_live(live).await,
            None => {
                let session = Session::start(config, Some(live)).await?;
                self.running = Some(Running::new(session, feeds));
                Ok(())
            }
        }
    }

    /// Ends the stream; a running recording goes on, else everything
    /// stops. Returns the stream check's final report (kept as the last).
    pub async fn end_stream(&mut self) -> Result<Option<CheckReport>, SessionError> {
        let session = self.session().ok_or(SessionError::NotLive)?;
        let report = session.end_stream().await?;
        if !session.is_recording() {
            self.shut_down().await;
        }
        if report.is_some() {
            self.last_check.clone_from(&report);
        }
        Ok(report)
    }

    /// Starts recording `config.record_encoding` to `path` (a new file): the
    /// running encode from its next picture, or, when idle, by starting the
    /// engine with `config` just for the recording.
    pub async fn start_recording(
        &mut self,
        mut config: EngineConfig,
        path: &Path,
        feeds: Feeds,
    ) -> Result<(), SessionError> {
        match &self.running {
            Some(r) => {
                let engine = r.session.engine();
                let encoding = config
                    .encodings
                    .get(config.record_encoding)
                    .and_then(|e| engine.encoding_index(&e.name))
                    .unwrap_or(0);
                Ok(engine.recorder().start(path, encoding)?)
            }
            None => {
                config.record = Some(path.to_path_buf());
                let session = Session::start(config, None).await?;
                self.running = Some(Running::new(session, feeds));
                Ok(())
            }
        }
    }

    /// Finishes the recording; when not streaming, everything stops too.
    pub async fn stop_recording(&mut self) -> Result<RecordingSummary, SessionError> {
        let session = self.session().ok_or(SessionError::NotRecording)?;
        let summary = session
            .engine()
            .recorder()
            .stop()
            .await
            .ok_or(SessionError::NotRecording)?;
        if !session.is_streaming() {
            self.shut_down().await;
        }
        Ok(summary)
    }

    /// The running stream check's report, else the last stream's.
    pub fn check_report(&self) -> Option<CheckReport> {
        self.session()
            .and_then(Session::check_report)
            .or_else(|| self.last_check.clone())
    }

    /// Stops whatever runs (recording finished, Outputs stopped cleanly).
    pub async fn shut_down(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}
