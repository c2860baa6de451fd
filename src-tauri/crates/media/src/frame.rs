//! Raw picture buffers.

/// One I420 (planar 4:2:0) picture with tightly packed planes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Frame {
    /// Width in pixels (even).
    pub width: usize,
    /// Height in pixels (even).
    pub height: usize,
    /// Luma plane, `width * height` bytes.
    pub y: Vec<u8>,
    /// Cb plane, `width/2 * height/2` bytes.
    pub u: Vec<u8>,
    /// Cr plane, `width/2 * height/2` bytes.
    pub v: Vec<u8>,
}

impl I420Frame {
    /// A black frame. Width and height are rounded down to even numbers.
    pub fn black(width: usize, height: usize) -> Self {
        let (width, height) = (width & !1, height & !1);
        let c = (width / 2) * (height / 2);
        Self {
            width,
            height,
            y: vec![16; width * height],
            u: vec![128; c],
            v: vec![128; c],
        }
    }

    /// Copies another frame of the same size into this one.
    pub fn copy_from(&mut self, other: &I420Frame) {
        self.y.copy_from_slice(&other.y);
        self.u.copy_from_slice(&other.u);
        self.v.copy_from_slice(&other.v);
    }

    /// Fills a rectangle (clipped to the frame) with a YUV colour.
    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, yuv: (u8, u8, u8)) {
        let x1 = (x + w).min(self.width);
        let y1 = (y + h).min(self.height);
        if x >= x1 || y >= y1 {
            return;
        }
        for row in y..y1 {
            self.y[row * self.width + x..row * self.width + x1].fill(yuv.0);
        }
        let cw = self.width / 2;
        for row in (y / 2)..y1.div_ceil(2).min(self.height / 2) {
            let (a, b) = (row * cw + x / 2, row * cw + x1.div_ceil(2).min(cw));
            self.u[a..b].fill(yuv.1);
            self.v[a..b].fill(yuv.2);
        }
    }

    /// Mean luma of a rectangle (for tests and meters).
    pub fn mean_luma(&self, x: usize, y: usize, w: usize, h: usize) -> f64 {
        let mut sum = 0u64;
        for row in y..(y + h).min(self.height) {
            for col in x..(x + w).min(self.width) {
                sum += u64::from(self.y[row * self.width + col]);
            }
        }
        sum as f64 / (w * h).max(1) as f64
    }
}
