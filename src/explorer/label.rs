//! Printable QR labels: a QR code holding an object's verification URL,
//! with the serial and the model name printed under it, as SVG or PNG.
//! `productivist label` writes them; `/label/{serial}.svg|.png` serves
//! them from the verification page.

use super::layout::seg;
use super::{ExplorerState, PageError, PageResult, public, read};
use crate::apps;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use maud::html;
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module in PNG labels.
pub const PNG_MODULE_PX: u32 = 8;
/// Quiet zone around the code, in modules (the QR standard asks for 4).
pub const QUIET_MODULES: u32 = 4;
/// Characters of a text line on a label before it is cut.
pub const LABEL_TEXT_CHARS_MAX: usize = 40;
/// Scale of the 8x8 bitmap font in PNG labels.
const PNG_FONT_SCALE: u32 = 2;

/// Why a label could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The URL does not fit in a QR code.
    #[error("the verification URL does not fit in a QR code: {0}")]
    Qr(String),
    /// PNG encoding failed.
    #[error("PNG: {0}")]
    Png(String),
}

/// The verification URL of `serial` under `base_url` (e.g.
/// `https://lab.example`): `BASE/verify/SERIAL`, the serial
/// percent-encoded.
pub fn verify_url(base_url: &str, serial: &str) -> String {
    format!("{}/verify/{}", base_url.trim_end_matches('/'), seg(serial))
}

fn code(url: &str) -> Result<QrCode, LabelError> {
    // Level M: survives some wear of a printed label.
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| LabelError::Qr(e.to_string()))
}

fn cut(text: &str) -> String {
    if text.chars().count() <= LABEL_TEXT_CHARS_MAX {
        return text.to_string();
    }
    let mut s: String = text.chars().take(LABEL_TEXT_CHARS_MAX - 1).collect();
    s.push('…');
    s
}

/// The label as an SVG document. Text is escaped (model names are
/// user-provided).
pub fn label_svg(url: &str, serial: &str, model_name: &str) -> Result<String, LabelError> {
    let qr = code(url)?;
    let modules = qr.width() as u32;
    let side = modules + 2 * QUIET_MODULES;
    let colors = qr.to_colors();
    let mut path = String::new();
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            let x = i as u32 % modules + QUIET_MODULES;
            let y = i as u32 / modules + QUIET_MODULES;
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    // Text rows below the code, in module units.
    let text_h = 10;
    let svg = html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (side) " " (side + text_h)}
            width={(side * 8)} height={((side + text_h) * 8)} {
            rect width="100%" height="100%" fill="#fff" {}
            path d=(path) fill="#000" shape-rendering="crispEdges" {}
            text x=(side / 2) y=(side + 2) text-anchor="middle" font-family="monospace"
                font-size="3" font-weight="700" { (cut(serial)) }
            text x=(side / 2) y=(side + 6) text-anchor="middle" font-family="sans-serif"
                font-size="2.6" { (cut(model_name)) }
        }
    };
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n",
        svg.into_string()
    ))
}

fn draw_text(img: &mut image::GrayImage, text: &str, y0: u32) {
    let glyph_px = 8 * PNG_FONT_SCALE;
    let text = cut(text);
    let width = text.chars().count() as u32 * glyph_px;
    let x0 = img.width().saturating_sub(width) / 2;
    for (n, ch) in text.chars().enumerate() {
        // The font covers ASCII; anything else prints as '?'.
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            '?' as usize
        };
        let glyph = font8x8::legacy::BASIC_LEGACY
            .get(code)
            .copied()
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..PNG_FONT_SCALE {
                    for dx in 0..PNG_FONT_SCALE {
                        let x = x0 + n as u32 * glyph_px + col * PNG_FONT_SCALE + dx;
                        let y = y0 + row as u32 * PNG_FONT_SCALE + dy;
                        if x < img.width() && y < img.height() {
                            img.put_pixel(x, y, image::Luma([0]));
                        }
                    }
                }
            }
        }
    }
}

/// The label as a PNG image (greyscale). Characters outside ASCII print
/// as `?` (the bitmap font is ASCII); the SVG label keeps them.
pub fn label_png(url: &str, serial: &str, model_name: &str) -> Result<Vec<u8>, LabelError> {
    let qr = code(url)?;
    let modules = qr.width() as u32;
    let side_px = (modules + 2 * QUIET_MODULES) * PNG_MODULE_PX;
    let glyph_px = 8 * PNG_FONT_SCALE;
    let text_w = LABEL_TEXT_CHARS_MAX as u32 * glyph_px;
    let width = side_px.max(text_w + 2 * glyph_px);
    let height = side_px + 3 * glyph_px + glyph_px;
    let mut img = image::GrayImage::from_pixel(width, height, image::Luma([255]));
    let left = (width - side_px) / 2 + QUIET_MODULES * PNG_MODULE_PX;
    let top = QUIET_MODULES * PNG_MODULE_PX;
    for (i, c) in qr.to_colors().iter().enumerate() {
        if *c != Color::Dark {
            continue;
        }
        let mx = i as u32 % modules;
        let my = i as u32 / modules;
        for dy in 0..PNG_MODULE_PX {
            for dx in 0..PNG_MODULE_PX {
                img.put_pixel(
                    left + mx * PNG_MODULE_PX + dx,
                    top + my * PNG_MODULE_PX + dy,
                    image::Luma([0]),
                );
            }
        }
    }
    draw_text(&mut img, serial, side_px);
    draw_text(&mut img, model_name, side_px + glyph_px + glyph_px / 2);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| LabelError::Png(e.to_string()))?;
    Ok(out.into_inner())
}

/// `GET /label/{serial}.svg` or `.png`: the label of a recorded object,
/// pointing at this node as the requester reached it.
pub async fn label(
    State(state): State<ExplorerState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> PageResult {
    let (serial, png) = if let Some(s) = file.strip_suffix(".svg") {
        (s, false)
    } else if let Some(s) = file.strip_suffix(".png") {
        (s, true)
    } else {
        return Err(PageError::not_found("A label is SERIAL.svg or SERIAL.png."));
    };
    let ch = public(&state, &headers)?;
    let p = {
        let ledger = read(&ch)?;
        apps::provenance(&ledger, &apps::anonymous(), serial)
            .ok()
            .flatten()
    };
    let p = p.ok_or_else(|| {
        PageError::not_found(format!("No object {serial:?} is recorded on this ledger."))
    })?;
    let url = super::verify::url_from_request(&headers, serial);
    let name = p
        .model
        .as_ref()
        .map_or("(unregistered model)", |m| m.name.as_str());
    let response = if png {
        let bytes =
            label_png(&url, serial, name).map_err(|e| PageError::internal(e.to_string()))?;
        (StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], bytes).into_response()
    } else {
        let svg = label_svg(&url, serial, name).map_err(|e| PageError::internal(e.to_string()))?;
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "image/svg+xml")],
            svg,
        )
            .into_response()
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_png(png: &[u8]) -> Vec<String> {
        let img = image::load_from_memory(png).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
            img.width() as usize,
            img.height() as usize,
            |x, y| img.get_pixel(x as u32, y as u32).0[0],
        );
        prepared
            .detect_grids()
            .into_iter()
            .map(|g| g.decode().unwrap().1)
            .collect()
    }

    #[test]
    fn png_label_decodes_back_to_the_exact_verification_url() {
        let url = verify_url("https://lab.example/", "PVT-7-0001");
        assert_eq!(url, "https://lab.example/verify/PVT-7-0001");
        let png = label_png(&url, "PVT-7-0001", "Bracket <v2> é").unwrap();
        assert_eq!(decode_png(&png), vec![url]);
    }

    #[test]
    fn svg_label_holds_the_url_as_a_qr_code_and_escapes_the_text() {
        let url = verify_url("http://127.0.0.1:8400", "A B/1");
        assert_eq!(url, "http://127.0.0.1:8400/verify/A%20B%2F1");
        let svg = label_svg(&url, "A B/1", "<script>alert(1)</script>").unwrap();
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!svg.contains("<script>alert"));
        // Rasterise the SVG's module path and decode it.
        let qr = code(&url).unwrap();
        let side = qr.width() as u32 + 2 * QUIET_MODULES;
        let d = svg.split("d=\"").nth(1).unwrap().split('"').next().unwrap();
        let mut dark = std::collections::HashSet::new();
        for m in d.split('M').filter(|s| !s.is_empty()) {
            let xy: Vec<u32> = m
                .trim_end_matches("h1v1h-1z")
                .split(' ')
                .map(|v| v.parse().unwrap())
                .collect();
            dark.insert((xy[0], xy[1]));
        }
        let scale = 4;
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
            (side * scale) as usize,
            (side * scale) as usize,
            |x, y| {
                if dark.contains(&(x as u32 / scale, y as u32 / scale)) {
                    0
                } else {
                    255
                }
            },
        );
        let found: Vec<String> = prepared
            .detect_grids()
            .into_iter()
            .map(|g| g.decode().unwrap().1)
            .collect();
        assert_eq!(found, vec![url]);
    }
}
