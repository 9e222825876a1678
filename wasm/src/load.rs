//! Getting files into the viewer: the folder the page is served with (`results/index.json` lists
//! it), files chosen with the picker, or files dropped on the page. Each file's bytes go to the
//! app as they arrive, with the progress on the page.
use crate::app;
use crate::dom;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

fn progress(done: usize, total: usize, name: &str) {
    dom::set_text("status", &format!("Loading {} of {total}: {name}…", done + 1));
    if let Some(p) = dom::by_id("progress") {
        let _ = p.set_attribute("max", &total.to_string());
        let _ = p.set_attribute("value", &done.to_string());
        let _ = p.remove_attribute("hidden");
    }
}

fn progress_done() {
    if let Some(p) = dom::by_id("progress") {
        let _ = p.set_attribute("hidden", "");
    }
}

async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let resp = JsFuture::from(window.fetch_with_str(url)).await.map_err(|e| format!("{url}: {e:?}"))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| format!("{url}: not a response"))?;
    if !resp.ok() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let buf = JsFuture::from(resp.array_buffer().map_err(|e| format!("{e:?}"))?).await.map_err(|e| format!("{url}: {e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// The folder the page was served with; none (a page opened on its own) is not an error.
pub async fn served_folder() {
    let index = match fetch_bytes("results/index.json").await {
        Ok(b) => b,
        Err(_) => {
            dom::set_text("status", "No results folder was served with this page: choose files or drop them here.");
            app::render_all();
            return;
        }
    };
    let names: Vec<String> = match serde_json::from_slice::<serde_json::Value>(&index) {
        Ok(v) => v["files"].as_array().map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect()).unwrap_or_default(),
        Err(e) => {
            app::report_error(&format!("results/index.json is not valid JSON: {e}"));
            return;
        }
    };
    let total = names.len();
    for (i, name) in names.iter().enumerate() {
        progress(i, total, name);
        dom::yield_to_browser().await;
        match fetch_bytes(&format!("results/{name}")).await {
            Ok(bytes) => app::add_file(name, bytes),
            Err(e) => app::report_error(&format!("could not fetch {e}")),
        }
    }
    progress_done();
    app::loaded(total);
}

/// Files from the picker or a drop.
pub async fn files(list: web_sys::FileList) {
    let total = list.length() as usize;
    for i in 0..list.length() {
        let Some(f) = list.get(i) else { continue };
        let name = f.name();
        progress(i as usize, total, &name);
        dom::yield_to_browser().await;
        match JsFuture::from(f.array_buffer()).await {
            Ok(buf) => app::add_file(&name, js_sys::Uint8Array::new(&buf).to_vec()),
            Err(e) => app::report_error(&format!("{name}: could not be read: {e:?}")),
        }
    }
    progress_done();
    app::loaded(total);
}

/// The picker and drag-and-drop anywhere on the page.
pub fn wire() {
    if let Some(p) = dom::by_id("picker") {
        dom::on(&p.clone().into(), "change", move |_| {
            if let Some(list) = p.dyn_ref::<web_sys::HtmlInputElement>().and_then(|i| i.files()) {
                wasm_bindgen_futures::spawn_local(files(list));
            }
        });
    }
    let doc: web_sys::EventTarget = dom::document().into();
    dom::on(&doc, "dragover", |e| {
        e.prevent_default();
        if let Some(b) = dom::document().body() {
            let _ = b.class_list().add_1("dragging");
        }
    });
    dom::on(&doc, "dragleave", |_| {
        if let Some(b) = dom::document().body() {
            let _ = b.class_list().remove_1("dragging");
        }
    });
    dom::on(&doc, "drop", |e| {
        e.prevent_default();
        if let Some(b) = dom::document().body() {
            let _ = b.class_list().remove_1("dragging");
        }
        let list = e.dyn_ref::<web_sys::DragEvent>().and_then(|d| d.data_transfer()).and_then(|t| t.files());
        if let Some(list) = list {
            wasm_bindgen_futures::spawn_local(files(list));
        }
    });
}
