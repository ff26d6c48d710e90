//! Colour conversion and resizing of decoded frames to packed RGB24, with display rotation.
//!
//! swscale writes into a small per-thread staging buffer (it wants aligned rows and may read
//! or write past a tightly packed row with its SIMD paths); the staging rows are then copied,
//! rotated where needed, into the caller's slot of the final output buffer.

use ff::ffi;
use ffmpeg_next as ff;

use crate::error::{Result, VideoError};

/// Scaling filter. Bicubic is what qwen-vl-utils' torchvision resize uses.
// The flags' integer type is bindgen's choice and differs across FFmpeg versions.
#[allow(clippy::unnecessary_cast)]
const SWS_FLAGS: i32 = (ffi::SWS_BICUBIC | ffi::SWS_ACCURATE_RND | ffi::SWS_FULL_CHR_H_INT) as i32;

pub(crate) struct Converter {
    ctx: *mut ffi::SwsContext,
    key: (i32, i32, i32, i32, i32, i32, i32),
    staging: Vec<u8>,
    stride: usize,
}

// The context is used by one thread at a time (each worker owns its converter).
unsafe impl Send for Converter {}

impl Drop for Converter {
    fn drop(&mut self) {
        unsafe { ffi::sws_freeContext(self.ctx) };
    }
}

impl Converter {
    pub(crate) fn new() -> Self {
        Converter { ctx: std::ptr::null_mut(), key: (0, 0, 0, 0, 0, 0, 0), staging: Vec::new(), stride: 0 }
    }

    /// Converts `frame` to RGB24 of the *displayed* size `out_w`×`out_h` after a clockwise
    /// rotation of `rotation` degrees, writing `out_h * out_w * 3` bytes into `dst`.
    pub(crate) fn convert(
        &mut self,
        frame: &ff::frame::Video,
        rotation: u32,
        out_w: u32,
        out_h: u32,
        dst: &mut [u8],
    ) -> Result<()> {
        debug_assert_eq!(dst.len(), out_w as usize * out_h as usize * 3);
        // Scale to the pre-rotation size, then rotate while copying into place.
        let (sw, sh) = if rotation % 180 == 90 { (out_h, out_w) } else { (out_w, out_h) };
        unsafe {
            let f = frame.as_ptr();
            let fmt = (*f).format;
            let (fw, fh) = ((*f).width, (*f).height);
            if fw <= 0 || fh <= 0 || fmt < 0 {
                return Err(VideoError::Internal(format!("decoder returned an empty frame ({fw}x{fh})")));
            }
            let key = (fmt, fw, fh, sw as i32, sh as i32, (*f).colorspace as i32, (*f).color_range as i32);
            if self.ctx.is_null() || key != self.key {
                self.ctx = ffi::sws_getCachedContext(
                    self.ctx,
                    fw,
                    fh,
                    std::mem::transmute::<i32, ffi::AVPixelFormat>(fmt),
                    sw as i32,
                    sh as i32,
                    ffi::AVPixelFormat::AV_PIX_FMT_RGB24,
                    SWS_FLAGS,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null(),
                );
                if self.ctx.is_null() {
                    return Err(VideoError::Internal(format!(
                        "swscale cannot convert pixel format {fmt} at {fw}x{fh}"
                    )));
                }
                set_colorspace(self.ctx, (*f).colorspace, (*f).color_range);
                self.key = key;
                self.stride = (sw as usize * 3 + 63) & !63;
                // One spare row absorbs any overrun of the SIMD paths.
                self.staging.resize(self.stride * (sh as usize + 1), 0);
            }
            let dst_data =
                [self.staging.as_mut_ptr(), std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()];
            let dst_stride = [self.stride as i32, 0, 0, 0];
            let rows = ffi::sws_scale(
                self.ctx,
                (*f).data.as_ptr() as *const *const u8,
                (*f).linesize.as_ptr(),
                0,
                fh,
                dst_data.as_ptr(),
                dst_stride.as_ptr(),
            );
            if rows != sh as i32 {
                return Err(VideoError::Internal(format!("swscale produced {rows} rows instead of {sh}")));
            }
        }
        rotate_into(&self.staging, self.stride, sw as usize, sh as usize, rotation, dst);
        Ok(())
    }
}

/// Uses the matrix and range the frame is tagged with (BT.601 when untagged, as FFmpeg does).
unsafe fn set_colorspace(ctx: *mut ffi::SwsContext, space: ffi::AVColorSpace, range: ffi::AVColorRange) {
    let coeffs = ffi::sws_getCoefficients(space as i32);
    let full_in = (range == ffi::AVColorRange::AVCOL_RANGE_JPEG) as i32;
    let mut inv: *mut i32 = std::ptr::null_mut();
    let mut tbl: *mut i32 = std::ptr::null_mut();
    let (mut src_range, mut dst_range, mut b, mut c, mut s) = (0, 0, 0, 0, 0);
    if ffi::sws_getColorspaceDetails(ctx, &mut inv, &mut src_range, &mut tbl, &mut dst_range, &mut b, &mut c, &mut s)
        < 0
    {
        return; // RGB or grey input: no YUV matrix to set.
    }
    // Formats like yuvj420p already imply full range; keep swscale's own choice for them.
    let src_range = if full_in == 1 { 1 } else { src_range };
    ffi::sws_setColorspaceDetails(ctx, coeffs, src_range, coeffs, 1, b, c, s);
}

/// Copies a `w`×`h` RGB image with rows `stride` bytes apart into `dst`, rotated clockwise.
fn rotate_into(src: &[u8], stride: usize, w: usize, h: usize, rotation: u32, dst: &mut [u8]) {
    match rotation {
        90 => {
            // Output is h wide and w tall: out[y][x] = in[h - 1 - x][y].
            for y in 0..w {
                for x in 0..h {
                    let s = (h - 1 - x) * stride + y * 3;
                    let d = (y * h + x) * 3;
                    dst[d..d + 3].copy_from_slice(&src[s..s + 3]);
                }
            }
        }
        180 => {
            for y in 0..h {
                for x in 0..w {
                    let s = (h - 1 - y) * stride + (w - 1 - x) * 3;
                    let d = (y * w + x) * 3;
                    dst[d..d + 3].copy_from_slice(&src[s..s + 3]);
                }
            }
        }
        270 => {
            // out[y][x] = in[x][w - 1 - y].
            for y in 0..w {
                for x in 0..h {
                    let s = x * stride + (w - 1 - y) * 3;
                    let d = (y * h + x) * 3;
                    dst[d..d + 3].copy_from_slice(&src[s..s + 3]);
                }
            }
        }
        _ => {
            let row = w * 3;
            for y in 0..h {
                dst[y * row..(y + 1) * row].copy_from_slice(&src[y * stride..y * stride + row]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rotate_into;

    #[test]
    fn rotations_move_corners_clockwise() {
        // 2 wide, 1 tall: pixels A (left) and B (right).
        let src = [1u8, 1, 1, 2, 2, 2];
        let mut out = [0u8; 6];
        rotate_into(&src, 6, 2, 1, 90, &mut out);
        assert_eq!(out, [1, 1, 1, 2, 2, 2]); // now 1 wide, 2 tall: A on top
        rotate_into(&src, 6, 2, 1, 270, &mut out);
        assert_eq!(out, [2, 2, 2, 1, 1, 1]); // B on top
        rotate_into(&src, 6, 2, 1, 180, &mut out);
        assert_eq!(out, [2, 2, 2, 1, 1, 1]);
    }
}
