//! Real cameras through nokhwa: V4L2 on Linux, AVFoundation on macOS, Media
//! Foundation on Windows, one API.

use std::borrow::Cow;
use std::time::Instant;

use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};
use nokhwa::Camera;

use crate::camera::{choose_mode, CameraDevice, CameraMode, CameraOpener, RawFrame};
use crate::convert::PixelFormat;
use crate::SourceError;

/// The formats we convert from.
const FORMATS: &[FrameFormat] = &[FrameFormat::MJPEG, FrameFormat::YUYV, FrameFormat::NV12];

/// A camera the system has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// Index for `--video camera:N`.
    pub index: u32,
    /// Name the system gives it.
    pub name: String,
    /// Modes we can use (empty when the camera could not be opened to ask).
    pub modes: Vec<CameraMode>,
}

fn pixel_format(f: FrameFormat) -> Option<PixelFormat> {
    match f {
        FrameFormat::MJPEG => Some(PixelFormat::Mjpeg),
        FrameFormat::YUYV => Some(PixelFormat::Yuyv),
        FrameFormat::NV12 => Some(PixelFormat::Nv12),
        _ => None,
    }
}

fn frame_format(f: PixelFormat) -> Option<FrameFormat> {
    match f {
        PixelFormat::Mjpeg => Some(FrameFormat::MJPEG),
        PixelFormat::Yuyv => Some(FrameFormat::YUYV),
        PixelFormat::Nv12 => Some(FrameFormat::NV12),
        PixelFormat::I420 => None,
    }
}

fn modes_of(cam: &mut Camera) -> Vec<CameraMode> {
    let mut modes: Vec<CameraMode> = cam
        .compatible_camera_formats()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| {
            Some(CameraMode {
                width: f.width(),
                height: f.height(),
                fps: f.frame_rate(),
                format: pixel_format(f.format())?,
            })
        })
        .collect();
    modes.sort_by_key(|m| {
        (
            std::cmp::Reverse(m.width * m.height),
            std::cmp::Reverse(m.fps),
            m.format,
        )
    });
    modes.dedup();
    modes
}

fn open_camera(index: u32) -> Result<Camera, SourceError> {
    Camera::new(
        CameraIndex::Index(index),
        RequestedFormat::with_formats(RequestedFormatType::None, FORMATS),
    )
    .map_err(|e| SourceError::NotFound(format!("camera {index} cannot be opened: {e}")))
}

/// The cameras on this system, with their modes.
pub fn list_cameras() -> Vec<CameraInfo> {
    let Some(backend) = nokhwa::native_api_backend() else {
        return Vec::new();
    };
    let infos = match nokhwa::query(backend) {
        Ok(i) => i,
        Err(e) => {
            tracing::debug!(error = %e, "no camera list");
            return Vec::new();
        }
    };
    infos
        .into_iter()
        .filter_map(|info| {
            let index = info.index().as_index().ok()?;
            let modes = open_camera(index)
                .map(|mut c| modes_of(&mut c))
                .unwrap_or_default();
            Some(CameraInfo {
                index,
                name: info.human_name(),
                modes,
            })
        })
        .collect()
}

/// Opens camera number `index` through nokhwa.
#[derive(Debug)]
pub struct NokhwaOpener {
    index: u32,
    name: String,
}

impl NokhwaOpener {
    /// Checks that the camera exists (a clear error if not).
    pub fn new(index: u32) -> Result<Self, SourceError> {
        let backend = nokhwa::native_api_backend().unwrap_or(ApiBackend::Auto);
        let infos = nokhwa::query(backend).unwrap_or_default();
        let found = infos
            .iter()
            .find(|i| i.index().as_index().ok() == Some(index));
        match found {
            Some(i) => Ok(Self {
                index,
                name: i.human_name(),
            }),
            None if infos.is_empty() => Err(SourceError::NotFound("no camera found".into())),
            None => Err(SourceError::NotFound(format!(
                "no camera {index}; cameras: {}",
                infos
                    .iter()
                    .map(|i| format!("{} ({})", i.index(), i.human_name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

impl CameraOpener for NokhwaOpener {
    fn name(&self) -> String {
        format!("{} ({})", self.name, self.index)
    }

    fn open(
        &mut self,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<Box<dyn CameraDevice>, SourceError> {
        let mut cam = open_camera(self.index)?;
        let modes = modes_of(&mut cam);
        let mode = choose_mode(&modes, width, height, fps).ok_or_else(|| {
            SourceError::Unsupported(format!(
                "camera {} offers no MJPEG, YUYV or NV12 mode",
                self.index
            ))
        })?;
        let fmt = CameraFormat::new_from(
            mode.width,
            mode.height,
            frame_format(mode.format).unwrap_or(FrameFormat::MJPEG),
            mode.fps,
        );
        cam.set_camera_requset(RequestedFormat::with_formats(
            RequestedFormatType::Exact(fmt),
            FORMATS,
        ))
        .map_err(|e| {
            SourceError::Unsupported(format!("camera {} refused {mode}: {e}", self.index))
        })?;
        cam.open_stream().map_err(|e| {
            SourceError::Unsupported(format!("camera {} does not stream: {e}", self.index))
        })?;
        Ok(Box::new(NokhwaDevice {
            cam,
            mode,
            owned: Vec::new(),
        }))
    }
}

struct NokhwaDevice {
    cam: Camera,
    mode: CameraMode,
    owned: Vec<u8>,
}

impl CameraDevice for NokhwaDevice {
    fn mode(&self) -> CameraMode {
        self.mode
    }

    fn read(&mut self) -> Result<RawFrame<'_>, SourceError> {
        let frame = self
            .cam
            .frame_raw()
            .map_err(|e| SourceError::Lost(format!("camera stopped delivering: {e}")))?;
        let captured = Instant::now();
        // The V4L2 backend lends the mapped buffer; others may hand over a copy.
        self.owned.clear();
        match frame {
            Cow::Borrowed(b) => self.owned.extend_from_slice(b),
            Cow::Owned(v) => self.owned = v,
        }
        Ok(RawFrame {
            data: &self.owned,
            captured,
        })
    }
}

impl Drop for NokhwaDevice {
    fn drop(&mut self) {
        let _ = self.cam.stop_stream();
    }
}
