//! Development probe: batched decode alone (for profiling).
use sqlora_kernel::generate::argmax;
use sqlora_kernel::model::Logits;
use sqlora_kernel::Engine;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("model path");
    let b: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(16);
    // NUMERICS=int8 selects the 8-bit-activation path.
    let numerics = if std::env::var("NUMERICS").is_ok_and(|v| v == "int8") {
        sqlora_kernel::cpu::Numerics::Int8
    } else {
        sqlora_kernel::cpu::Numerics::Exact
    };
    let e = Engine::load_cpu(&path, numerics).unwrap();
    let m = &e.model;
    let prompts: Vec<Vec<u32>> = (0..b).map(|i| (0..128).map(|t| ((t * 31 + i * 7) % 40000) as u32 + 100).collect()).collect();
    let mut caches: Vec<_> = (0..b).map(|_| m.new_cache()).collect();
    let mut batch: Vec<(&[u32], &mut _)> = prompts.iter().map(|p| p.as_slice()).zip(caches.iter_mut()).collect();
    let l = m.forward(&mut batch, Logits::Last).unwrap();
    drop(batch);
    let v = m.cfg.vocab;
    let mut next: Vec<[u32; 1]> = (0..b).map(|i| [argmax(&l[i * v..(i + 1) * v])]).collect();
    let t = Instant::now();
    let steps: usize = std::env::args().nth(3).map(|s| s.parse().unwrap()).unwrap_or(32);
    eprintln!("prefill done");
    for _ in 0..steps {
        let mut batch: Vec<(&[u32], &mut _)> = next.iter().map(|n| n.as_slice()).zip(caches.iter_mut()).collect();
        let l = m.forward(&mut batch, Logits::Last).unwrap();
        drop(batch);
        for (i, n) in next.iter_mut().enumerate() {
            n[0] = argmax(&l[i * v..(i + 1) * v]);
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!("batch {b}: {:.1} ms/step, {:.1} tok/s aggregate", s * 1e3 / steps as f64, (b * steps) as f64 / s);
}
