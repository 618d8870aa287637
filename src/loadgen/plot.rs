//! The SVG picture of a run (`plotters`): committed and submitted tx/s on
//! top, p50 and p99 commit latency below, over the run's seconds, with a
//! vertical marker for each kill and restart.

use super::timeline::Row;
use plotters::prelude::*;

/// Picture size, pixels.
pub const WIDTH_PX: u32 = 1000;
/// Picture size, pixels.
pub const HEIGHT_PX: u32 = 700;

/// An event drawn as a vertical line.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// When, in seconds since the start.
    pub at_s: f64,
    /// Its label (`kill -9 node1`).
    pub label: String,
    /// Whether it is a restart (green) rather than a kill (red).
    pub restart: bool,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// Draws the timeline as an SVG document.
pub fn svg(title: &str, rows: &[Row], markers: &[Marker]) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, bottom) = root.split_vertically(HEIGHT_PX / 2);
        let x_max = (rows.len() as f64).max(1.0);
        // Points at the middle of each second.
        let at = |r: &Row| r.second as f64 + 0.5;

        let tps_max = rows
            .iter()
            .map(|r| r.committed.max(r.submitted))
            .max()
            .unwrap_or(0)
            .max(1) as f64
            * 1.15;
        let mut chart = ChartBuilder::on(&top)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, 0f64..tps_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("tx/s")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                rows.iter().map(|r| (at(r), r.submitted as f64)),
                BLUE.mix(0.5).stroke_width(1),
            ))
            .map_err(err)?
            .label("submitted")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.mix(0.5)));
        chart
            .draw_series(LineSeries::new(
                rows.iter().map(|r| (at(r), r.committed as f64)),
                BLUE.stroke_width(2),
            ))
            .map_err(err)?
            .label("committed")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        draw_markers(&mut chart, markers, tps_max)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;

        let ms_max = rows.iter().map(|r| r.p99_ms).fold(0.0, f64::max).max(1.0) * 1.15;
        let mut chart = ChartBuilder::on(&bottom)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, 0f64..ms_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("commit latency, ms")
            .draw()
            .map_err(err)?;
        // Seconds without commits have no latency: leave gaps out.
        let with_commits = || rows.iter().filter(|r| r.committed > 0);
        chart
            .draw_series(LineSeries::new(
                with_commits().map(|r| (at(r), r.p50_ms)),
                GREEN.stroke_width(2),
            ))
            .map_err(err)?
            .label("p50")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                with_commits().map(|r| (at(r), r.p99_ms)),
                MAGENTA.stroke_width(2),
            ))
            .map_err(err)?
            .label("p99")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MAGENTA.stroke_width(2)));
        draw_markers(&mut chart, markers, ms_max)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

fn draw_markers<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    markers: &[Marker],
    y_max: f64,
) -> Result<(), String> {
    for m in markers {
        let color = if m.restart { GREEN } else { RED };
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(m.at_s, 0.0), (m.at_s, y_max)],
                color.stroke_width(2),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                m.label.clone(),
                (m.at_s, y_max * 0.97),
                ("sans-serif", 13).into_font().color(&color),
            )))
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_is_a_document_with_the_series_and_markers() {
        let rows: Vec<Row> = (0..10)
            .map(|i| Row {
                second: i,
                submitted: 1_000,
                committed: if i == 5 { 0 } else { 1_000 },
                p50_ms: 12.0,
                p99_ms: 40.0,
            })
            .collect();
        let markers = [
            Marker {
                at_s: 4.0,
                label: "kill -9 node1".into(),
                restart: false,
            },
            Marker {
                at_s: 7.0,
                label: "restart node1".into(),
                restart: true,
            },
        ];
        let text = svg("3-node raft", &rows, &markers).expect("svg");
        assert!(text.starts_with("<svg"), "{}", &text[..80.min(text.len())]);
        assert!(text.trim_end().ends_with("</svg>"));
        for needle in [
            "3-node raft",
            "committed",
            "p99",
            "kill -9 node1",
            "restart node1",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
        // An empty run still draws axes.
        assert!(svg("empty", &[], &[]).expect("svg").contains("</svg>"));
    }
}
