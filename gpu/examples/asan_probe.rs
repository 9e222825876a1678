//! Reads one value past a buffer's end in an emulated kernel (`selftest_out_of_bounds`). Built with
//! `SQLORA_GPU_SANITIZE=1`, AddressSanitizer must stop it with a heap-buffer-overflow report, which
//! scripts/gpu_check.sh requires: proof that the sanitized kernel tests would catch such a read. A plain
//! build reads whatever lies there and exits 0.
use sqlora_gpu::emulated::{run, LaunchConfig, ThreadOrder};
use sqlora_gpu::kernels::selftest_out_of_bounds;
use sqlora_gpu::launch::Arg;

fn main() {
    let input = vec![1.0f32; 64];
    let mut out = vec![0.0f32; 64];
    let args = [Arg::Ptr(input.as_ptr() as usize as u64), Arg::Ptr(out.as_mut_ptr() as usize as u64)];
    unsafe { run(&selftest_out_of_bounds, LaunchConfig::linear(1, 64), ThreadOrder::Forward, &args) }.unwrap();
    println!("no sanitizer stopped the read: out[63] = {}", out[63]);
}
