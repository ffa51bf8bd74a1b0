//! Charts as SVG drawn by the server: a line over time with its latest value, and a quota bar.
//! Integer arithmetic only; no script, so they are safe under the console's CSP.

/// One value over time.
#[derive(Debug, Clone)]
pub struct Series {
    pub title: String,
    pub unit: &'static str,
    /// (Unix ms, value), oldest first.
    pub points: Vec<(i64, u64)>,
}

const WIDTH: i64 = 320;
const HEIGHT: i64 = 110;
const TOP: i64 = 28;
const BOTTOM: i64 = 100;

/// Text made safe inside SVG/HTML markup and attribute values.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart of `series`, scaled to its own maximum, titled with its latest value.
pub fn line(series: &Series) -> String {
    let latest = series
        .points
        .last()
        .map(|(_, v)| format!("{v}{}", series.unit))
        .unwrap_or_else(|| "no data yet".to_string());
    let max = series
        .points
        .iter()
        .map(|(_, v)| *v)
        .max()
        .unwrap_or(0)
        .max(1);
    let (first, last) = match (series.points.first(), series.points.last()) {
        (Some((a, _)), Some((b, _))) => (*a, (*b).max(*a + 1)),
        _ => (0, 1),
    };
    let span = last - first;
    let points: Vec<String> = series
        .points
        .iter()
        .map(|(at, v)| {
            let x = 4 + (at - first) * (WIDTH - 8) / span;
            let v = i64::try_from(*v).unwrap_or(i64::MAX);
            let y = BOTTOM - v * (BOTTOM - TOP) / i64::try_from(max).unwrap_or(i64::MAX);
            format!("{x},{y}")
        })
        .collect();
    let line = if points.len() > 1 {
        format!(
            r#"<polyline class="line" fill="none" points="{}"/>"#,
            points.join(" ")
        )
    } else if let Some(point) = points.first() {
        let (x, y) = point.split_once(',').unwrap_or(("0", "0"));
        format!(r#"<circle class="dot" cx="{x}" cy="{y}" r="3"/>"#)
    } else {
        String::new()
    };
    format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}: {latest}"><text x="4" y="14" class="chart-title">{title}</text><text x="{right}" y="14" class="chart-value" text-anchor="end">{latest}</text><line class="axis" x1="4" y1="{BOTTOM}" x2="{axis_end}" y2="{BOTTOM}"/><text x="{right}" y="{max_y}" class="chart-scale" text-anchor="end">max {max}{unit}</text>{line}</svg>"#,
        title = escape(&series.title),
        latest = escape(&latest),
        right = WIDTH - 4,
        axis_end = WIDTH - 4,
        max_y = TOP - 2,
        unit = series.unit,
    )
}

/// A horizontal bar: `used` of `limit`.
pub fn bar(label: &str, used: u64, limit: u64) -> String {
    let limit = limit.max(1);
    let percent = (used.saturating_mul(100) / limit).min(100);
    let width = i64::try_from(percent).unwrap_or(100) * (WIDTH - 8) / 100;
    let class = if percent >= 90 { "bar hot" } else { "bar" };
    format!(
        r#"<svg class="quota" viewBox="0 0 {WIDTH} 34" role="img" aria-label="{label}: {used} of {limit}"><text x="4" y="12" class="chart-title">{label}</text><text x="{right}" y="12" text-anchor="end" class="chart-value">{used} / {limit} ({percent}%)</text><rect class="track" x="4" y="18" width="{track}" height="12" rx="3"/><rect class="{class}" x="4" y="18" width="{width}" height="12" rx="3"/></svg>"#,
        label = escape(label),
        right = WIDTH - 4,
        track = WIDTH - 8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_scale_to_their_maximum_and_say_their_latest_value() {
        let svg = line(&Series {
            title: "Queue <depth>".into(),
            unit: "",
            points: vec![(0, 0), (500, 10), (1000, 5)],
        });
        assert!(svg.contains(r#"points="4,100 160,28 316,64""#), "{svg}");
        assert!(svg.contains("Queue &lt;depth&gt;"));
        assert!(svg.contains(">5</text>"));
        let empty = line(&Series {
            title: "x".into(),
            unit: "%",
            points: vec![],
        });
        assert!(empty.contains("no data yet"));
        assert!(bar("finance per_day", 950, 1000).contains("bar hot"));
        assert!(
            bar("finance per_day", 500, 1000).contains(r#"class="bar" x="4" y="18" width="156""#)
        );
    }
}
