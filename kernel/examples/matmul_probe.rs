//! Times the CPU matmul paths for a few activation-row counts (a development probe).
use sqlora_kernel::backend::HostMatrix;
use sqlora_kernel::cpu::CpuMatrix;
use sqlora_kernel::formats::quant::GgmlType;
use std::time::Instant;

fn main() {
    // SHAPE=rows,cols picks the weight shape (default: SmolLM2's MLP up projection).
    let shape = std::env::var("SHAPE").unwrap_or("1536,576".into());
    let (rows, cols) = shape.split_once(",").map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap())).unwrap();
    let ty = GgmlType::Q4_1;
    let bytes: Vec<u8> = (0..ty.row_bytes(cols) * rows).map(|i| (i * 7919 % 251) as u8 & 0x3f).collect();
    let w = CpuMatrix::from_host(&HostMatrix { name: "w".into(), ty, rows, cols, bytes: &bytes }).unwrap();
    let ms: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    println!("ISA {} ({})", sqlora_kernel::cpu::isa::current(), sqlora_kernel::cpu::isa::current().describe());
    let ms = if ms.is_empty() { vec![1, 4, 16, 23, 24, 64, 512] } else { ms };
    for m in ms {
        let x: Vec<f32> = (0..m * cols).map(|i| (i % 13) as f32 * 0.01).collect();
        let mut out = vec![0f32; m * rows];
        let reps = (20000 / m).max(3);
        // NUMERICS=int8 times the 8-bit-activation product instead of the exact one.
        let int8 = std::env::var("NUMERICS").is_ok_and(|v| v == "int8");
        let run = |out: &mut Vec<f32>| match &w {
            CpuMatrix::Quant(p) if int8 => p.matmul_int8(&x, m, out),
            _ => w.matmul(&x, m, out),
        };
        run(&mut out);
        let t = Instant::now();
        for _ in 0..reps {
            run(&mut out);
        }
        let s = t.elapsed().as_secs_f64() / reps as f64;
        println!("m={m:4}: {:8.1} us  {:6.1} GFLOP/s", s * 1e6, 2.0 * (m * rows * cols) as f64 / s / 1e9);
    }
}
