//! A flow drawn as a graph of its steps (SVG, server-side): the trigger, then each step in
//! order with its action; a conditional step has a dashed border and its condition, a step that
//! goes elsewhere on error has a curved arrow to that step.

use paybridge_flows::view::FlowView;

use super::charts::escape;

const WIDTH: usize = 360;
const NODE_H: usize = 52;
const GAP: usize = 22;
const LEFT: usize = 12;
const NODE_W: usize = 290;

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

pub fn draw(flow: &FlowView) -> String {
    let count = flow.steps.len() + 1;
    let height = count * (NODE_H + GAP) + 8;
    let top = |i: usize| 8 + i * (NODE_H + GAP);
    let mut svg = format!(
        r#"<svg class="graph" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="the steps of {}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"/></marker></defs>"#,
        escape(&flow.name)
    );
    let events = if flow.trigger_events.is_empty() {
        "every event".to_string()
    } else {
        flow.trigger_events.join(", ")
    };
    svg.push_str(&format!(
        r#"<g class="node trigger"><rect x="{LEFT}" y="8" width="{NODE_W}" height="{NODE_H}" rx="8"/><text x="{tx}" y="30" class="node-title">trigger: {source}</text><text x="{tx}" y="47" class="node-sub">{events}</text></g>"#,
        tx = LEFT + 10,
        source = escape(&flow.trigger_source),
        events = escape(&clip(&events, 44)),
    ));
    for (i, step) in flow.steps.iter().enumerate() {
        let y = top(i + 1);
        let class = match (step.effect, step.when.is_some()) {
            (true, true) => "node effect conditional",
            (true, false) => "node effect",
            (false, true) => "node conditional",
            (false, false) => "node",
        };
        let sub = match &step.when {
            Some(when) => format!("when {}", clip(when, 40)),
            None => step.action.clone(),
        };
        svg.push_str(&format!(
            r##"<line class="edge" x1="{cx}" y1="{y1}" x2="{cx}" y2="{y2}" marker-end="url(#arrow)"/><a href="#step-{id}"><g class="{class}" id="node-{id}"><rect x="{LEFT}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8"/><text x="{tx}" y="{t1}" class="node-title">{name} · {action}</text><text x="{tx}" y="{t2}" class="node-sub">{sub}</text></g></a>"##,
            cx = LEFT + NODE_W / 2,
            y1 = y - GAP,
            y2 = y - 2,
            id = escape(&step.name),
            tx = LEFT + 10,
            t1 = y + 22,
            t2 = y + 39,
            name = escape(&clip(&step.name, 18)),
            action = escape(&clip(&step.action, 26)),
            sub = escape(&sub),
        ));
        if let Some(target) = step.on_error.strip_prefix("go to ")
            && let Some(j) = flow.steps.iter().position(|s| s.name == target)
        {
            let from = y + NODE_H / 2;
            let to = top(j + 1) + NODE_H / 2;
            let right = LEFT + NODE_W;
            svg.push_str(&format!(
                r#"<path class="edge error" d="M {right} {from} C {c} {from}, {c} {to}, {right} {to}" marker-end="url(#arrow)"><title>on error: go to {t}</title></path>"#,
                c = right + 40,
                t = escape(target),
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}
