//! The app's Studio: the sources open while it is shown (the preview and
//! the meters run before going live), at most one [`Session`] at a time
//! encoding them, what starts and stops it (Go Live, End Stream, a
//! recording started or stopped on its own), the feeds to the window, and
//! the last stream check's report after it ended.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use onair_check::CheckReport;
use onair_media::preview::PreviewFrame;
use onair_record::RecordingSummary;

use crate::session::{GoLive, LiveUpdate, MeterUpdate, Session, SessionError};
use crate::{Capture, EngineConfig, PREVIEW_FPS};

/// Where the Studio reports to (the window). Each returns `false` once
/// nobody listens any more (the feed then stops).
pub struct Feeds {
    /// Once a second while a session runs.
    pub on_update: Box<dyn FnMut(LiveUpdate) -> bool + Send>,
    /// What the window shows of the capture, at most [`PREVIEW_FPS`] times
    /// a second: the newest preview picture and the meters together, so a
    /// window gets one message and repaints once for both.
    pub on_capture: Box<dyn FnMut(CaptureFeed) -> bool + Send>,
}

/// One tick of the capture's feed to the window; never both `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureFeed {
    /// A picture newer than the last one sent, if the capture made one.
    pub picture: Option<PreviewFrame>,
    /// The audio meters; [`MeterUpdate::silent`] once when there is no
    /// audio source, then `None`.
    pub meters: Option<MeterUpdate>,
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feeds")
    }
}

/// The window's feeds, shared by the tasks that call them.
type Window = Arc<Mutex<Feeds>>;

/// Calls one of the window's feeds; `false` once it is gone.
fn tell<T>(window: &Window, pick: impl FnOnce(&mut Feeds, T) -> bool, v: T) -> bool {
    match window.lock() {
        Ok(mut f) => pick(&mut f, v),
        Err(_) => false,
    }
}

/// The task that feeds the window from the capture (it holds the capture
/// weakly: it closes when dropped): each preview period, the newest
/// picture and the meters in one call. While the window is `hidden`
/// nothing is sent, and no preview picture is even made.
fn spawn_capture_feed(
    capture: &Arc<Capture>,
    window: &Window,
    hidden: &Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let c = Arc::downgrade(capture);
    let preview = capture.preview().clone();
    // A capture opened while the window is hidden makes no picture either
    // (`Studio::set_shown` pauses the open one).
    preview.pause(hidden.load(Ordering::Relaxed));
    let w = window.clone();
    let h = hidden.clone();
    tokio::spawn(async move {
        let period = Duration::from_millis(1000 / u64::from(PREVIEW_FPS));
        let mut tick = tokio::time::interval(period);
        let mut seq = 0;
        let mut rested = false;
        loop {
            tick.tick().await;
            if h.load(Ordering::Relaxed) {
                continue;
            }
            let Some(capture) = Weak::upgrade(&c) else {
                break;
            };
            let picture = preview.newer_than(seq);
            if let Some(f) = &picture {
                seq = f.seq;
            }
            // No audio source: the meters rest, once.
            let meters = match capture.meters() {
                Some(m) => Some(m),
                None if !rested => {
                    rested = true;
                    Some(MeterUpdate::silent())
                }
                None => None,
            };
            drop(capture);
            if picture.is_none() && meters.is_none() {
                continue;
            }
            if !tell(
                &w,
                |f, c| (f.on_capture)(c),
                CaptureFeed { picture, meters },
            ) {
                break;
            }
        }
    })
}

/// The task that tells the window what `session` does, once a second.
fn spawn_update_feed(session: &Arc<Session>, window: &Window) -> tokio::task::JoinHandle<()> {
    let s = session.clone();
    let w = window.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if !tell(&w, |f, u| (f.on_update)(u), s.update()) {
                break;
            }
        }
    })
}

/// Aborts `tasks` and waits for them: none holds what it fed after.
async fn stop_tasks(tasks: impl IntoIterator<Item = tokio::task::JoinHandle<()>>) {
    let tasks: Vec<_> = tasks.into_iter().collect();
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
}

#[derive(Debug)]
struct Running {
    session: Arc<Session>,
    feed: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn new(session: Session, window: Option<&Window>) -> Self {
        let session = Arc::new(session);
        let feed = window.map(|w| spawn_update_feed(&session, w));
        Self { session, feed }
    }

    /// Feeds a new window (after a reload) instead of the old one.
    async fn replace_feed(&mut self, window: &Window) {
        stop_tasks(self.feed.take()).await;
        self.feed = Some(spawn_update_feed(&self.session, window));
    }

    /// Stops the feed, then the session (the capture goes on).
    async fn stop(mut self) {
        stop_tasks(self.feed.take()).await;
        match Arc::try_unwrap(self.session) {
            Ok(s) => {
                s.stop().await;
            }
            // Only the feed held it, and it is gone.
            Err(_) => tracing::error!("the session is still shared; it stops when dropped"),
        }
    }
}

/// The app's live state: the sources, and idle, recording, streaming, or
/// both.
#[derive(Default)]
pub struct Studio {
    capture: Option<Arc<Capture>>,
    window: Option<Window>,
    capture_feed: Option<tokio::task::JoinHandle<()>>,
    /// The window is minimised (or otherwise not shown).
    hidden: Arc<AtomicBool>,
    running: Option<Running>,
    last_check: Option<CheckReport>,
}

impl std::fmt::Debug for Studio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Studio")
            .field("capture", &self.capture)
            .field("window", &self.window.is_some())
            .field("running", &self.running)
            .finish()
    }
}

impl Studio {
    /// Idle, nothing open.
    pub fn new() -> Self {
        Self::default()
    }

    /// The running session (streaming, recording or both).
    pub fn session(&self) -> Option<&Session> {
        self.running.as_ref().map(|r| &*r.session)
    }

    /// The open sources.
    pub fn capture(&self) -> Option<&Arc<Capture>> {
        self.capture.as_ref()
    }

    /// A window (opened, or reloaded after its web view crashed while the
    /// stream went on) takes the feeds: the preview and meters of the
    /// sources — opened now for `config` when idle — and the running
    /// session's updates. Returns what runs now (`None` when idle); an
    /// error when a source cannot be opened (the window is fed once one
    /// can: [`Studio::show_sources`]).
    pub async fn attach(
        &mut self,
        config: EngineConfig,
        feeds: Feeds,
    ) -> Result<Option<LiveUpdate>, SessionError> {
        let window: Window = Arc::new(Mutex::new(feeds));
        self.window = Some(window.clone());
        // A new window is shown until it says otherwise.
        self.set_shown(true);
        if let Some(r) = &mut self.running {
            r.replace_feed(&window).await;
        } else {
            self.ensure_capture(&config).await?;
        }
        self.feed_capture().await;
        Ok(self.running.as_ref().map(|r| r.session.update()))
    }

    /// The creator picked other sources (or encodings: another canvas):
    /// when idle, the capture is reopened for `config` and the window sees
    /// the change at once. While a session runs its sources stay.
    pub async fn show_sources(&mut self, config: &EngineConfig) -> Result<(), SessionError> {
        if self.running.is_some() {
            return Ok(());
        }
        if self.ensure_capture(config).await?.1 {
            self.feed_capture().await;
        }
        Ok(())
    }

    /// The window was minimised (`false`) or shown again (`true`): while it
    /// is not shown it gets no preview pictures and no meters (none are
    /// made), so a creator who streams with OnAir minimised pays for the
    /// encode only; the 1 Hz update goes on (the title and the panel show
    /// the uptime). Shown again, the picture is back within a preview
    /// period.
    pub fn set_shown(&self, shown: bool) {
        self.hidden.store(!shown, Ordering::Relaxed);
        if let Some(c) = &self.capture {
            c.preview().pause(!shown);
        }
    }

    /// Puts the creator's mix (faders, mutes, filters) on the open sources.
    pub fn set_mix(&self, mix: &onair_profiles::audio::AudioMix) {
        if let Some(c) = &self.capture {
            c.set_mix(mix);
        }
    }

    /// (Re)starts the window's feed from the capture (pictures and meters).
    async fn feed_capture(&mut self) {
        stop_tasks(self.capture_feed.take()).await;
        if let (Some(c), Some(w)) = (&self.capture, &self.window) {
            self.capture_feed = Some(spawn_capture_feed(c, w, &self.hidden));
        }
    }

    /// Makes the open capture one that serves `config`: kept when it
    /// does, else closed and opened anew. Returns it, and whether it
    /// changed.
    async fn ensure_capture(
        &mut self,
        config: &EngineConfig,
    ) -> Result<(Arc<Capture>, bool), SessionError> {
        if let Some(c) = self.capture.as_ref().filter(|c| c.serves(config)) {
            return Ok((c.clone(), false));
        }
        self.close_capture().await;
        let config = config.clone();
        let opened = tokio::task::spawn_blocking(move || Capture::open(&config))
            .await
            .map_err(|e| SessionError::Panicked(e.to_string()))?;
        let capture = Arc::new(opened?);
        self.capture = Some(capture.clone());
        Ok((capture, true))
    }

    /// Closes the sources (the devices are free when it returns).
    async fn close_capture(&mut self) {
        stop_tasks(self.capture_feed.take()).await;
        if let Some(c) = self.capture.take() {
            match Arc::try_unwrap(c) {
                Ok(c) => {
                    let _ = tokio::task::spawn_blocking(move || drop(c)).await;
                }
                Err(_) => tracing::error!("the capture is still shared; it closes when dropped"),
            }
        }
    }

    /// Streaming to destinations.
    pub fn is_streaming(&self) -> bool {
        self.session().is_some_and(Session::is_streaming)
    }

    /// Starts a session encoding the open sources (opened for `config`
    /// first if they are not those it needs).
    async fn start_session(
        &mut self,
        config: EngineConfig,
        live: Option<GoLive>,
    ) -> Result<(), SessionError> {
        let (capture, changed) = self.ensure_capture(&config).await?;
        if changed {
            self.feed_capture().await;
        }
        let session = Session::start_on(capture, config, live).await?;
        self.running = Some(Running::new(session, self.window.as_ref()));
        Ok(())
    }

    /// Goes live: encodes the open sources with `config` (nothing is
    /// reopened when they are the ones it names), or, while recording,
    /// sends the running encode to `live`'s destinations too.
    pub async fn go_live(
        &mut self,
        config: EngineConfig,
        live: GoLive,
    ) -> Result<(), SessionError> {
        match &self.running {
            Some(r) => r.session.go_live(live).await,
            None => self.start_session(config, Some(live)).await,
        }
    }

    /// Ends the stream; a running recording goes on, else the encoders
    /// stop (the sources stay open for the preview). Returns the stream
    /// check's final report (kept as the last).
    pub async fn end_stream(&mut self) -> Result<Option<CheckReport>, SessionError> {
        let session = self.session().ok_or(SessionError::NotLive)?;
        let report = session.end_stream().await?;
        if !session.is_recording() {
            self.stop_session().await;
        }
        if report.is_some() {
            self.last_check.clone_from(&report);
        }
        Ok(report)
    }

    /// Starts recording `config.record_encoding` to `path` (a new file): the
    /// running encode from its next picture, or, when idle, by encoding the
    /// open sources just for the recording.
    pub async fn start_recording(
        &mut self,
        mut config: EngineConfig,
        path: &Path,
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
                self.start_session(config, None).await
            }
        }
    }

    /// Finishes the recording; when not streaming, the encoders stop too.
    pub async fn stop_recording(&mut self) -> Result<RecordingSummary, SessionError> {
        let session = self.session().ok_or(SessionError::NotRecording)?;
        let summary = session
            .engine()
            .recorder()
            .stop()
            .await
            .ok_or(SessionError::NotRecording)?;
        if !session.is_streaming() {
            self.stop_session().await;
        }
        Ok(summary)
    }

    /// The running stream check's report, else the last stream's.
    pub fn check_report(&self) -> Option<CheckReport> {
        self.session()
            .and_then(Session::check_report)
            .or_else(|| self.last_check.clone())
    }

    /// Stops the session (recording finished, Outputs stopped cleanly);
    /// the sources stay open.
    async fn stop_session(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    /// Stops whatever runs and closes the sources (quitting).
    pub async fn shut_down(&mut self) {
        self.stop_session().await;
        self.close_capture().await;
        self.window = None;
    }
}
