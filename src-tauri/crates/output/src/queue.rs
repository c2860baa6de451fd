//! The per-Output send queue, bounded in media time.
//!
//! The encoder threads push; the Output's task pops. Pushing never blocks and
//! never fails. Past the drop threshold of queued media, non-key video is
//! dropped until the next keyframe (audio and keyframes never are). While
//! the destination is not live, only the current group of pictures is kept
//! (from the latest keyframe on, a new keyframe clears it): memory stays flat
//! while a server is down, and a (re)connect starts at once from the latest
//! keyframe instead of waiting for the next one.
//!
//! What a connection sends always begins with a keyframe. Audio encodes
//! faster than the first picture, so audio that arrives before a keyframe
//! but was captured at or after it is not lost: it is held (a few frames)
//! and follows that keyframe. The same holds when a keyframe restarts the
//! group of pictures cached while down.

use std::collections::VecDeque;

pub use onair_flv::{Tag, TagKind};

fn droppable(t: &Tag) -> bool {
    t.kind == TagKind::Video && !t.keyframe
}

/// Hard cap on queued bytes even of undroppable tags: past it the
/// destination is too slow to be useful and the Output reconnects.
pub const MAX_QUEUED_BYTES: usize = 32 * 1024 * 1024;

/// Audio frames held while the queue waits for its first keyframe (over a
/// second of AAC at 48 kHz).
const MAX_EARLY_AUDIO: usize = 64;

/// The queue.
#[derive(Debug)]
pub struct SendQueue {
    tags: VecDeque<Tag>,
    /// A keyframe heads what is queued (since the start or the last clear):
    /// until then video waits for one and audio is held in `early_audio`.
    keyed: bool,
    early_audio: VecDeque<Tag>,
    bytes: usize,
    threshold_ms: i64,
    accepting: bool,
    dropping: bool,
    dropped_frames: u64,
    overflowed: bool,
    /// Media time at which live queueing began: the cached group of
    /// pictures before it does not count towards the drop threshold.
    live_from_ms: i64,
}

impl SendQueue {
    /// A queue that drops non-key video past `threshold_ms` of queued media.
    pub fn new(threshold_ms: u32) -> Self {
        Self {
            tags: VecDeque::new(),
            keyed: false,
            early_audio: VecDeque::new(),
            bytes: 0,
            threshold_ms: i64::from(threshold_ms),
            accepting: false,
            dropping: false,
            dropped_frames: 0,
            overflowed: false,
            live_from_ms: i64::MIN,
        }
    }

    /// Starts (live) or stops (down) queueing. Going down keeps only the
    /// group of pictures being cached.
    pub fn set_accepting(&mut self, accepting: bool) {
        if accepting == self.accepting {
            return;
        }
        self.accepting = accepting;
        self.dropping = false;
        self.overflowed = false;
        if accepting {
            self.live_from_ms = self.tags.back().map_or(i64::MIN, |t| t.pts_ms);
        } else {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.tags.clear();
        self.early_audio.clear();
        self.keyed = false;
        self.bytes = 0;
    }

    /// Starts what is queued with this keyframe; audio held or cached that
    /// was captured at or after it follows it.
    fn start_at(&mut self, keyframe: Tag) {
        let pts = keyframe.pts_ms;
        let mut audio: Vec<Tag> = self
            .tags
            .drain(..)
            .chain(self.early_audio.drain(..))
            .filter(|t| t.kind == TagKind::Audio && t.pts_ms >= pts)
            .collect();
        audio.sort_by_key(|t| t.pts_ms);
        self.keyed = true;
        self.bytes = keyframe.body.len();
        self.tags.push_back(keyframe);
        for a in audio {
            self.bytes += a.body.len();
            self.tags.push_back(a);
        }
    }

    /// Adds a tag, applying the drop policy.
    pub fn push(&mut self, tag: Tag) {
        let keyframe = tag.kind == TagKind::Video && tag.keyframe;
        if !self.keyed || (!self.accepting && keyframe) {
            // Nothing goes before a keyframe; while down, each keyframe
            // restarts the cached group of pictures.
            if keyframe {
                self.start_at(tag);
            } else if tag.kind == TagKind::Audio {
                if self.early_audio.len() >= MAX_EARLY_AUDIO {
                    self.early_audio.pop_front();
                }
                self.early_audio.push_back(tag);
            }
            return;
        }
        if !self.accepting {
            // Down: cache the current group of pictures only.
            if self.bytes + tag.body.len() > MAX_QUEUED_BYTES {
                return;
            }
            self.bytes += tag.body.len();
            self.tags.push_back(tag);
            return;
        }
        if tag.kind == TagKind::Video && tag.keyframe {
            self.dropping = false;
        }
        if self.dropping && droppable(&tag) {
            self.dropped_frames += 1;
            return;
        }
        if self.queued_ms_with(tag.pts_ms) > self.threshold_ms {
            // Congested: drop queued non-key video and all that follows
            // until the next keyframe.
            self.dropping = true;
            let before = self.tags.len();
            let mut bytes = 0;
            self.tags.retain(|t| {
                let keep = !droppable(t);
                if !keep {
                    bytes += t.body.len();
                }
                keep
            });
            self.bytes -= bytes;
            self.dropped_frames += (before - self.tags.len()) as u64;
            if droppable(&tag) {
                self.dropped_frames += 1;
                return;
            }
        }
        self.bytes += tag.body.len();
        if self.bytes > MAX_QUEUED_BYTES {
            self.overflowed = true;
        }
        self.tags.push_back(tag);
    }

    fn queued_ms_with(&self, newest: i64) -> i64 {
        match self.tags.front() {
            Some(t) => newest - t.pts_ms.max(self.live_from_ms),
            None => 0,
        }
    }

    /// Media time waiting to be sent, ms: between the oldest and newest
    /// queued tags, not counting the group of pictures cached while down
    /// (0 while down).
    pub fn queued_ms(&self) -> i64 {
        if !self.accepting {
            return 0;
        }
        match (self.tags.front(), self.tags.back()) {
            (Some(a), Some(b)) => (b.pts_ms - a.pts_ms.max(self.live_from_ms)).max(0),
            _ => 0,
        }
    }

    /// Whether the oldest tag is a video keyframe (where a connection may
    /// hand over to another).
    pub fn front_is_keyframe(&self) -> bool {
        self.tags
            .front()
            .is_some_and(|t| t.kind == TagKind::Video && t.keyframe)
    }

    /// Takes the oldest tag.
    pub fn pop(&mut self) -> Option<Tag> {
        let t = self.tags.pop_front()?;
        self.bytes -= t.body.len();
        Some(t)
    }

    /// Queued tags.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Queued bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The drop threshold, ms.
    pub fn threshold_ms(&self) -> u32 {
        self.threshold_ms as u32
    }

    /// Video frames dropped so far.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    /// Whether undroppable tags exceeded [`MAX_QUEUED_BYTES`] (then cleared).
    pub fn take_overflow(&mut self) -> bool {
        std::mem::take(&mut self.overflowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Instant;

    fn tag(kind: TagKind, pts_ms: i64, keyframe: bool) -> Tag {
        Tag {
            kind,
            pts_ms,
            keyframe,
            body: Bytes::from_static(&[0; 100]),
            capture: Instant::now(),
        }
    }

    #[test]
    fn while_down_only_the_latest_group_of_pictures_is_kept() {
        let mut q = SendQueue::new(700);
        q.push(tag(TagKind::Audio, 0, true));
        q.push(tag(TagKind::Video, 10, false));
        assert!(q.is_empty(), "nothing before a keyframe");
        for i in 0..200 {
            q.push(tag(TagKind::Video, i * 33, i % 60 == 0));
            q.push(tag(TagKind::Audio, i * 33, true));
        }
        // The last keyframe was frame 180: 20 video + 20 audio since.
        assert_eq!(q.len(), 40);
        assert_eq!(
            q.pop().map(|t| (t.pts_ms, t.keyframe)),
            Some((180 * 33, true))
        );
    }

    fn order(q: &mut SendQueue) -> Vec<(TagKind, i64)> {
        std::iter::from_fn(|| q.pop())
            .map(|t| (t.kind, t.pts_ms))
            .collect()
    }

    #[test]
    fn audio_captured_with_the_first_keyframe_but_arriving_before_it_follows_it() {
        for accepting in [false, true] {
            let mut q = SendQueue::new(700);
            q.set_accepting(accepting);
            // The audio encoder is faster than the first picture.
            q.push(tag(TagKind::Audio, -21, true));
            q.push(tag(TagKind::Audio, 0, true));
            q.push(tag(TagKind::Audio, 21, true));
            q.push(tag(TagKind::Video, 0, true));
            q.push(tag(TagKind::Audio, 42, true));
            assert_eq!(
                order(&mut q),
                [
                    (TagKind::Video, 0),
                    (TagKind::Audio, 0),
                    (TagKind::Audio, 21),
                    (TagKind::Audio, 42)
                ],
                "accepting: {accepting}"
            );
        }
    }

    #[test]
    fn a_keyframe_restarting_the_cache_keeps_the_audio_captured_after_it() {
        let mut q = SendQueue::new(700);
        q.push(tag(TagKind::Video, 0, true));
        q.push(tag(TagKind::Audio, 980, true));
        q.push(tag(TagKind::Audio, 1001, true));
        q.push(tag(TagKind::Audio, 1022, true));
        q.push(tag(TagKind::Video, 1000, true));
        assert_eq!(
            order(&mut q),
            [
                (TagKind::Video, 1000),
                (TagKind::Audio, 1001),
                (TagKind::Audio, 1022)
            ]
        );
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn audio_held_for_a_keyframe_is_bounded() {
        let mut q = SendQueue::new(700);
        for i in 0..10_000 {
            q.push(tag(TagKind::Audio, i * 21, true));
            q.push(tag(TagKind::Video, i * 21, false));
        }
        assert!(q.is_empty());
        q.push(tag(TagKind::Video, 0, true));
        assert_eq!(q.len(), 1 + MAX_EARLY_AUDIO);
    }

    #[test]
    fn cached_group_of_pictures_does_not_count_towards_the_drop_threshold() {
        let mut q = SendQueue::new(700);
        for i in 0..60 {
            q.push(tag(TagKind::Video, i * 33, i == 0));
        }
        q.set_accepting(true);
        for i in 60..70 {
            q.push(tag(TagKind::Video, i * 33, false));
        }
        assert_eq!((q.len(), q.dropped_frames()), (70, 0));
    }

    #[test]
    fn past_the_threshold_non_key_video_is_dropped_until_the_next_keyframe() {
        let mut q = SendQueue::new(700);
        q.set_accepting(true);
        q.push(tag(TagKind::Video, 0, true));
        for i in 1..=30 {
            q.push(tag(TagKind::Video, i * 33, false));
            q.push(tag(TagKind::Audio, i * 33, true));
        }
        // 990 ms queued: the P frames went, the keyframe and audio stayed.
        assert!(q.dropped_frames() > 0);
        let kinds: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert!(kinds.iter().all(|t| !droppable(t)));
        assert_eq!(
            kinds.iter().filter(|t| t.kind == TagKind::Audio).count(),
            30
        );
        assert!(kinds[0].keyframe && kinds[0].kind == TagKind::Video);
        // Still dropping until a keyframe, then accepting P frames again.
        q.push(tag(TagKind::Video, 2000, false));
        assert!(q.is_empty());
        q.push(tag(TagKind::Video, 2033, true));
        q.push(tag(TagKind::Video, 2066, false));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn under_the_threshold_nothing_is_dropped() {
        let mut q = SendQueue::new(700);
        q.set_accepting(true);
        for i in 0..20 {
            q.push(tag(TagKind::Video, i * 33, i == 0));
        }
        assert_eq!((q.len(), q.dropped_frames()), (20, 0));
        assert_eq!(q.queued_ms(), 19 * 33);
        q.set_accepting(false);
        assert_eq!(q.queued_ms(), 0, "nothing waits to be sent while down");
    }
}
