//! The emulator catches what a GPU would punish: a missing barrier (the two thread orders disagree), a
//! barrier not every thread reaches (an error naming the threads), and it runs warp operations and
//! block reductions as CUDA defines them.
use sqlora_gpu::emulated::{run, LaunchConfig, ThreadOrder};
use sqlora_gpu::kernels::*;
use sqlora_gpu::launch::{Arg, Kernel};

fn ptr<T>(v: &mut [T]) -> Arg {
    Arg::Ptr(v.as_mut_ptr() as usize as u64)
}

fn run_out(threads: u32, order: ThreadOrder, kernel: Kernel) -> Result<Vec<f32>, String> {
    let mut out = vec![0.0f32; threads as usize];
    unsafe { run(&kernel, LaunchConfig::linear(1, threads), order, &[ptr(&mut out)]) }?;
    Ok(out)
}

#[test]
fn a_missing_barrier_shows_as_a_difference_between_thread_orders() {
    for threads in [32, 96, 1024] {
        let want: Vec<f32> = (0..threads).map(|t| ((t + 1) % threads) as f32).collect();
        let fwd = run_out(threads, ThreadOrder::Forward, selftest_missing_barrier).unwrap();
        let rev = run_out(threads, ThreadOrder::Reverse, selftest_missing_barrier).unwrap();
        assert_ne!(fwd, rev, "{threads} threads: the race went unseen");
        // Each order gets some slots wrong: shared memory starts as NaN bytes, not as last block's data.
        assert!(fwd != want && rev != want && fwd.iter().chain(&rev).any(|v| v.is_nan()));
        for order in ThreadOrder::BOTH {
            assert_eq!(run_out(threads, order, selftest_with_barrier).unwrap(), want, "{order:?}");
        }
    }
}

#[test]
fn a_barrier_not_every_thread_reaches_fails_the_launch() {
    for order in ThreadOrder::BOTH {
        let e = run_out(64, order, selftest_divergent_barrier).unwrap_err();
        assert!(e.contains("__syncthreads not reached by every thread"), "{e}");
        assert!(e.contains("has returned") && e.contains("block (0,0,0)"), "{e}");
    }
}

#[test]
fn warp_shuffles_and_votes_follow_cuda() {
    let threads = 96usize; // three warps
    let input: Vec<f32> = (0..threads).map(|t| (t * t % 17) as f32).collect();
    for order in ThreadOrder::BOTH {
        let (mut input, mut sum, mut down, mut ballot) = (input.clone(), vec![0f32; threads], vec![0f32; threads], vec![0u32; threads]);
        let args = [ptr(&mut input), ptr(&mut sum), ptr(&mut down), ptr(&mut ballot)];
        unsafe { run(&selftest_warp_ops, LaunchConfig::linear(1, threads as u32), order, &args) }.unwrap();
        for t in 0..threads {
            let warp = &input[t / 32 * 32..t / 32 * 32 + 32];
            assert_eq!(sum[t], warp.iter().sum::<f32>(), "lane {t}");
            // shfl_down by 1: lane 31 keeps its own value.
            let src = if t % 32 == 31 { t } else { t + 1 };
            assert_eq!(down[t], input[src], "lane {t}");
            assert_eq!(ballot[t], 0xaaaa_aaaa, "lane {t}");
        }
    }
}

#[test]
fn block_sums_over_several_warps_and_blocks() {
    for (blocks, threads) in [(1u32, 32u32), (3, 64), (2, 1024), (5, 160)] {
        let n = (blocks * threads) as usize;
        let input: Vec<f32> = (0..n).map(|i| ((i * 7919) % 101) as f32 - 50.0).collect();
        for order in ThreadOrder::BOTH {
            let (mut input, mut out) = (input.clone(), vec![0f32; blocks as usize]);
            let args = [ptr(&mut input), ptr(&mut out)];
            unsafe { run(&selftest_block_sum, LaunchConfig::linear(blocks, threads), order, &args) }.unwrap();
            for (b, got) in out.iter().enumerate() {
                let want: f32 = input[b * threads as usize..(b + 1) * threads as usize].iter().sum();
                assert_eq!(*got, want, "{blocks} × {threads}, block {b}, {order:?}");
            }
        }
    }
}

#[test]
fn a_block_of_more_than_1024_threads_is_refused() {
    let e = run_out(1025, ThreadOrder::Forward, selftest_with_barrier).unwrap_err();
    assert!(e.contains("1025 threads"), "{e}");
}

#[test]
fn a_launch_with_the_wrong_arguments_is_refused_by_name() {
    let mut out = vec![0f32; 32];
    let cfg = LaunchConfig::linear(1, 32);
    let e = unsafe { run(&selftest_block_sum, cfg, ThreadOrder::Forward, &[ptr(&mut out)]) }.unwrap_err();
    assert_eq!(e, "selftest_block_sum: arguments [Ptr] given, [Ptr, Ptr] expected");
    let e = unsafe { run(&add_f32, cfg, ThreadOrder::Forward, &[ptr(&mut out), ptr(&mut out), Arg::F32(1.0)]) }.unwrap_err();
    assert!(e.contains("[Ptr, Ptr, F32] given, [Ptr, Ptr, I32] expected"), "{e}");
}

mod common;
use sqlora_gpu::device::EmulatedGpu;

#[test]
fn the_tensor_core_wrapper_follows_the_ptx_layouts_in_both_orders() {
    for order in ThreadOrder::BOTH {
        let gpu = EmulatedGpu { order };
        common::tensor_core::check_mma(&gpu);
        common::tensor_core::check_ldmatrix(&gpu);
        common::tensor_core::check_cp_async(&gpu);
    }
}

#[test]
fn a_read_before_the_cp_async_wait_sees_stale_shared_memory() {
    // The copies land only at the wait: read before it, the shared memory still holds its poison
    // wherever the neighbour has not reached its own wait yet.
    let input: Vec<f32> = (0..128).map(|i| i as f32).collect();
    let bytes: Vec<u8> = input.iter().flat_map(|x| x.to_le_bytes()).collect();
    for order in ThreadOrder::BOTH {
        let gpu = EmulatedGpu { order };
        let out = common::tensor_core::launch(&gpu, &selftest_cp_async, 32, &[&bytes], &[Arg::I32(0)], 512).unwrap();
        let stale = out.chunks_exact(16).filter(|c| f32::from_le_bytes(c[..4].try_into().unwrap()).is_nan()).count();
        // Forward: 31 threads read a neighbour still to come; reverse: the one whose neighbour ran last.
        assert!(stale >= 1, "{order:?}: no thread read stale values before the wait");
    }
    let gpu = EmulatedGpu::default();
    let e = common::tensor_core::launch(&gpu, &selftest_cp_async_unwaited, 32, &[&bytes], &[], 128).unwrap_err();
    assert!(e.contains("returned with cp.async copies it never waited for"), "{e}");
}
