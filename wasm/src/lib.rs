//! sqlora-viewer: the results viewer's wasm entry point. It wires the page's controls to
//! [`app`] and loads the served folder; everything it shows is computed by `sqlora-results`.
mod app;
mod dom;
mod load;

use wasm_bindgen::prelude::*;

/// A panic (a bug) is shown on the page, not only in the console.
fn install_panic_message() {
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("The viewer hit a bug and stopped: {info}");
        if let Some(e) = dom::by_id("status") {
            e.set_text_content(Some(&msg));
            let _ = e.set_attribute("class", "error");
        }
        web_sys::console::error_1(&msg.into());
    }));
}

/// Clicks and changes, delegated from the document to the control they happened on.
fn wire_controls() {
    let doc: web_sys::EventTarget = dom::document().into();
    dom::on(&doc, "click", |e| {
        if let Some(th) = dom::closest(&e, "th[data-sort]") {
            if let Some(col) = th.get_attribute("data-sort").and_then(|c| c.parse().ok()) {
                app::sort_by(col);
            }
        } else if let Some(b) = dom::closest(&e, "[data-tab]") {
            app::show_tab(&b.get_attribute("data-tab").unwrap_or_default());
        } else if let Some(r) = dom::closest(&e, ".xrow[data-pair]") {
            if let Some(p) = r.get_attribute("data-pair").and_then(|p| p.parse().ok()) {
                app::select(p);
            }
        } else if dom::closest(&e, "#export-csv").is_some() {
            app::export_csv();
        }
    });
    let changed = |e: web_sys::Event| {
        let Some(id) = dom::closest(&e, "[id]").map(|t| t.id()) else { return };
        match id.as_str() {
            "reference" => app::set_reference(dom::value("reference").parse().unwrap_or(0)),
            "diff-only" => app::show_tab("runs"),
            "run-a" | "run-b" => app::choose_runs(),
            "f-db" | "f-hardness" | "f-seed" | "f-official" | "f-kind" | "f-text" | "f-change" => app::refilter(),
            "t-metric" | "t-x" | "t-smooth" => app::render_training(),
            _ => {}
        }
    };
    dom::on(&doc, "change", changed);
    dom::on(&doc, "input", changed);
    if let Some(list) = dom::by_id("xlist") {
        dom::on(&list.into(), "scroll", |_| app::render_window());
    }
}

#[wasm_bindgen(start)]
pub fn start() {
    install_panic_message();
    wire_controls();
    load::wire();
    wasm_bindgen_futures::spawn_local(load::served_folder());
}
