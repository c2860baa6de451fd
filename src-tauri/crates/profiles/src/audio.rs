//! The audio mix as the creator sets it: each source's fader, mute and
//! filters, desktop audio's device, the master mute. Saved with the
//! settings; every value is brought into its range when loaded or set
//! ([`AudioMix::clamped`]), so a hand-edited file cannot make the filters
//! misbehave.

use serde::{Deserialize, Serialize};

/// One source's filters, in the order they run. A filter switched off keeps
/// its values for when it is switched on again.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct AudioFilters {
    /// Gain first, dB (−20 to +20).
    pub gain_db: f32,
    /// Noise suppression (RNNoise).
    pub denoise: bool,
    /// Noise gate.
    pub gate: bool,
    /// The gate opens above, dBFS.
    pub gate_open_dbfs: f32,
    /// ...and closes below (after the hold), dBFS.
    pub gate_close_dbfs: f32,
    /// Gate attack, ms.
    pub gate_attack_ms: f32,
    /// Gate hold, ms.
    pub gate_hold_ms: f32,
    /// Gate release, ms.
    pub gate_release_ms: f32,
    /// Compressor.
    pub compressor: bool,
    /// Compression above, dBFS.
    pub compressor_threshold_dbfs: f32,
    /// Ratio (≥ 1).
    pub compressor_ratio: f32,
    /// Compressor attack, ms.
    pub compressor_attack_ms: f32,
    /// Compressor release, ms.
    pub compressor_release_ms: f32,
    /// Makeup gain, dB.
    pub compressor_makeup_db: f32,
    /// Limiter (5 ms look-ahead).
    pub limiter: bool,
    /// Highest sample out, dBFS.
    pub limiter_ceiling_dbfs: f32,
    /// Limiter release, ms.
    pub limiter_release_ms: f32,
}

impl Default for AudioFilters {
    /// Every filter off, with the voice preset's values ready.
    fn default() -> Self {
        Self {
            denoise: false,
            gate: false,
            compressor: false,
            limiter: false,
            ..Self::voice()
        }
    }
}

impl AudioFilters {
    /// "Voice: clean and levelled": noise suppression, a gentle gate, 3:1
    /// compression of the loud parts, a limiter at −1 dBFS.
    pub fn voice() -> Self {
        Self {
            gain_db: 0.0,
            denoise: true,
            gate: true,
            gate_open_dbfs: -45.0,
            gate_close_dbfs: -50.0,
            gate_attack_ms: 5.0,
            gate_hold_ms: 150.0,
            gate_release_ms: 150.0,
            compressor: true,
            compressor_threshold_dbfs: -20.0,
            compressor_ratio: 3.0,
            compressor_attack_ms: 5.0,
            compressor_release_ms: 120.0,
            compressor_makeup_db: 4.0,
            limiter: true,
            limiter_ceiling_dbfs: -1.0,
            limiter_release_ms: 80.0,
        }
    }

    /// Whether every filter of the voice preset is on (the one switch).
    pub fn is_voice(&self) -> bool {
        self.denoise && self.gate && self.compressor && self.limiter
    }

    /// Every value in its range (NaN to the default).
    pub fn clamped(self) -> Self {
        let d = Self::voice();
        let c = |v: f32, lo: f32, hi: f32, dflt: f32| {
            if v.is_finite() {
                v.clamp(lo, hi)
            } else {
                dflt
            }
        };
        let gate_open_dbfs = c(self.gate_open_dbfs, -90.0, 0.0, d.gate_open_dbfs);
        Self {
            gain_db: c(self.gain_db, -20.0, 20.0, d.gain_db),
            gate_open_dbfs,
            gate_close_dbfs: c(
                self.gate_close_dbfs,
                -90.0,
                gate_open_dbfs,
                d.gate_close_dbfs,
            )
            .min(gate_open_dbfs),
            gate_attack_ms: c(self.gate_attack_ms, 0.0, 2000.0, d.gate_attack_ms),
            gate_hold_ms: c(self.gate_hold_ms, 0.0, 5000.0, d.gate_hold_ms),
            gate_release_ms: c(self.gate_release_ms, 0.0, 5000.0, d.gate_release_ms),
            compressor_threshold_dbfs: c(
                self.compressor_threshold_dbfs,
                -60.0,
                0.0,
                d.compressor_threshold_dbfs,
            ),
            compressor_ratio: c(self.compressor_ratio, 1.0, 20.0, d.compressor_ratio),
            compressor_attack_ms: c(
                self.compressor_attack_ms,
                0.0,
                1000.0,
                d.compressor_attack_ms,
            ),
            compressor_release_ms: c(
                self.compressor_release_ms,
                0.0,
                5000.0,
                d.compressor_release_ms,
            ),
            compressor_makeup_db: c(self.compressor_makeup_db, 0.0, 24.0, d.compressor_makeup_db),
            limiter_ceiling_dbfs: c(
                self.limiter_ceiling_dbfs,
                -20.0,
                0.0,
                d.limiter_ceiling_dbfs,
            ),
            limiter_release_ms: c(self.limiter_release_ms, 1.0, 2000.0, d.limiter_release_ms),
            ..self
        }
    }
}

/// One source in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct SourceMix {
    /// Fader, dB (−60 to +10), after the filters.
    pub volume_db: f32,
    /// Muted: the stream carries silence for it.
    pub muted: bool,
    /// Its filters.
    pub filters: AudioFilters,
}

impl Default for SourceMix {
    fn default() -> Self {
        Self {
            volume_db: 0.0,
            muted: false,
            filters: AudioFilters::default(),
        }
    }
}

impl SourceMix {
    /// Every value in its range.
    pub fn clamped(self) -> Self {
        Self {
            volume_db: if self.volume_db.is_finite() {
                self.volume_db.clamp(-60.0, 10.0)
            } else {
                0.0
            },
            muted: self.muted,
            filters: self.filters.clamped(),
        }
    }
}

/// The whole mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct AudioMix {
    /// The microphone (or the test tone).
    pub mic: SourceMix,
    /// Desktop audio.
    pub desktop: SourceMix,
    /// What desktop audio captures: empty is off, `default` the default
    /// output, otherwise a source id from `onair devices`.
    pub desktop_source: String,
    /// The whole mix muted.
    pub muted: bool,
}

impl AudioMix {
    /// Every value in its range.
    pub fn clamped(self) -> Self {
        Self {
            mic: self.mic.clamped(),
            desktop: self.desktop.clamped(),
            desktop_source: self.desktop_source.trim().to_owned(),
            muted: self.muted,
        }
    }

    /// Desktop audio's device: `None` off, `Some(None)` the default output.
    pub fn desktop_device(&self) -> Option<Option<String>> {
        match self.desktop_source.trim() {
            "" => None,
            "default" => Some(None),
            id => Some(Some(id.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_brought_into_range() {
        let f = AudioFilters {
            gain_db: 99.0,
            gate_open_dbfs: -40.0,
            gate_close_dbfs: -10.0,
            compressor_ratio: 0.2,
            limiter_ceiling_dbfs: f32::NAN,
            ..AudioFilters::default()
        }
        .clamped();
        assert_eq!(f.gain_db, 20.0);
        assert_eq!(
            f.gate_close_dbfs, -40.0,
            "closes at or under where it opens"
        );
        assert_eq!(f.compressor_ratio, 1.0);
        assert_eq!(f.limiter_ceiling_dbfs, -1.0);
    }

    #[test]
    fn a_settings_file_without_the_mix_reads_as_everything_off() {
        let m: AudioMix = serde_json::from_str("{}").unwrap();
        assert_eq!(m, AudioMix::default());
        assert!(!m.mic.filters.denoise && !m.mic.filters.limiter);
        assert_eq!(m.desktop_device(), None);
        let m: AudioMix =
            serde_json::from_str(r#"{"desktop_source":"default","mic":{"volume_db":-3}}"#).unwrap();
        assert_eq!(m.desktop_device(), Some(None));
        assert_eq!(m.mic.volume_db, -3.0);
    }

    #[test]
    fn the_voice_preset_is_one_switch() {
        assert!(AudioFilters::voice().is_voice());
        assert!(!AudioFilters::default().is_voice());
    }
}
