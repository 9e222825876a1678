//! Which vector instruction set the CPU kernels use: the best the processor has, capped by the
//! environment variable `SQLORA_ISA` (so one machine can run, test and time every lower path).
//!
//! Levels, lowest first on each architecture:
//! - x86_64: `scalar` < `avx2` (AVX2 + FMA: AMD before Zen 4, Intel before Ice Lake) < `avxvnni` (AVX2 +
//!   AVX-VNNI 256-bit integer dot products: Intel client CPUs since Alder Lake) < `avx512` (F, BW, VL, DQ,
//!   VNNI).
//! - aarch64: `scalar` < `neon` < `dotprod` (NEON + SDOT, ARMv8.2+: Apple M1 and later, Graviton 2+).
//!
//! `SQLORA_ISA=avx2` on an AVX-512 machine runs exactly the kernels an AVX2-only machine runs (the
//! dense `gemm` crate used for large dense products picks its own instructions and is not capped).
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Isa {
    Scalar = 1,
    Avx2 = 2,
    AvxVnni = 3,
    Avx512 = 4,
    Neon = 5,
    Dotprod = 6,
}

impl Isa {
    pub const ALL: [Isa; 6] = [Isa::Scalar, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Neon, Isa::Dotprod];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avxvnni",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
            Isa::Dotprod => "dotprod",
        }
    }

    /// Human-readable: what the level means in instructions.
    pub fn describe(self) -> &'static str {
        match self {
            Isa::Scalar => "portable scalar code",
            Isa::Avx2 => "AVX2+FMA",
            Isa::AvxVnni => "AVX2+FMA+AVX-VNNI",
            Isa::Avx512 => "AVX-512 (F/BW/VL/DQ/VNNI)",
            Isa::Neon => "NEON",
            Isa::Dotprod => "NEON+dotprod",
        }
    }

    pub fn parse(s: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The levels below this one on the same architecture (and itself), best first.
    fn chain(self) -> &'static [Isa] {
        match self {
            Isa::Avx512 => &[Isa::Avx512, Isa::AvxVnni, Isa::Avx2, Isa::Scalar],
            Isa::AvxVnni => &[Isa::AvxVnni, Isa::Avx2, Isa::Scalar],
            Isa::Avx2 => &[Isa::Avx2, Isa::Scalar],
            Isa::Dotprod => &[Isa::Dotprod, Isa::Neon, Isa::Scalar],
            Isa::Neon => &[Isa::Neon, Isa::Scalar],
            Isa::Scalar => &[Isa::Scalar],
        }
    }

    /// Whether this processor can run the level's kernels: the level's own features, each checked —
    /// not implied by a higher level (an AVX-512 VNNI CPU of Intel before Sapphire Rapids, Cascade or
    /// Ice Lake, lacks the VEX-encoded AVX-VNNI of the `avxvnni` level).
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = || is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            match self {
                Isa::Avx2 => return avx2(),
                Isa::AvxVnni => return avx2() && is_x86_feature_detected!("avxvnni"),
                Isa::Avx512 => {
                    return avx2()
                        && is_x86_feature_detected!("avx512f")
                        && is_x86_feature_detected!("avx512bw")
                        && is_x86_feature_detected!("avx512vl")
                        && is_x86_feature_detected!("avx512dq")
                        && is_x86_feature_detected!("avx512vnni")
                }
                _ => {}
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            match self {
                Isa::Neon => return std::arch::is_aarch64_feature_detected!("neon"),
                Isa::Dotprod => {
                    return std::arch::is_aarch64_feature_detected!("neon") && std::arch::is_aarch64_feature_detected!("dotprod")
                }
                _ => {}
            }
        }
        self == Isa::Scalar
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The best level this processor supports, ignoring `SQLORA_ISA`.
pub fn detect_best() -> Isa {
    [Isa::Avx512, Isa::AvxVnni, Isa::Avx2, Isa::Dotprod, Isa::Neon].into_iter().find(|i| i.supported()).unwrap_or(Isa::Scalar)
}

/// The level `SQLORA_ISA` asks for, capped to what the CPU has. A level of the other architecture or an
/// unknown name is an error worth stopping for (a benchmark would otherwise measure the wrong thing):
/// the CLI checks it before any work (`sqlora` prints it and exits), the kernels panic with it.
pub fn from_env() -> Result<Isa, String> {
    let best = detect_best();
    match std::env::var("SQLORA_ISA") {
        Ok(v) if !v.trim().is_empty() => {
            let Some(want) = Isa::parse(&v) else {
                return Err(format!("SQLORA_ISA={v}: unknown level; use one of scalar, avx2, avxvnni, avx512, neon, dotprod"));
            };
            if want.supported() {
                Ok(want)
            } else if want > best && same_arch(want, best) {
                // A cap above what the CPU has is no cap.
                Ok(best)
            } else {
                Err(format!("SQLORA_ISA={v}: not available on this CPU (it supports: {})", supported_names()))
            }
        }
        _ => Ok(best),
    }
}

fn same_arch(a: Isa, b: Isa) -> bool {
    let x86 = |i: Isa| matches!(i, Isa::Avx2 | Isa::AvxVnni | Isa::Avx512);
    let arm = |i: Isa| matches!(i, Isa::Neon | Isa::Dotprod);
    a == Isa::Scalar || b == Isa::Scalar || (x86(a) && x86(b)) || (arm(a) && arm(b))
}

/// Every level this CPU can run, best first.
pub fn supported() -> Vec<Isa> {
    detect_best().chain().iter().copied().filter(|i| i.supported()).collect()
}

fn supported_names() -> String {
    supported().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
}

static CURRENT: AtomicU8 = AtomicU8::new(0);

/// The level the kernels use now.
#[inline]
pub fn current() -> Isa {
    match CURRENT.load(Ordering::Relaxed) {
        0 => {
            let i = from_env().unwrap_or_else(|e| panic!("{e}"));
            CURRENT.store(i as u8, Ordering::Relaxed);
            i
        }
        v => Isa::ALL[v as usize - 1],
    }
}

/// Switches every kernel to `isa` (tests run each path in turn; one process-wide setting, so tests that
/// switch must not run beside tests that depend on the level). Errors if the CPU lacks it.
pub fn set(isa: Isa) -> Result<(), String> {
    if !isa.supported() {
        return Err(format!("{isa} is not available on this CPU (it supports: {})", supported_names()));
    }
    CURRENT.store(isa as u8, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_chains_end_in_scalar() {
        for i in Isa::ALL {
            assert_eq!(Isa::parse(i.name()), Some(i));
            assert_eq!(*i.chain().last().unwrap(), Isa::Scalar);
            assert_eq!(i.chain()[0], i);
        }
        assert_eq!(Isa::parse("AVX2"), Some(Isa::Avx2));
        assert_eq!(Isa::parse("sse"), None);
        assert!(Isa::Scalar.supported());
        assert!(detect_best().supported());
    }

    /// Each level is checked on its own features: a CPU with AVX-512 VNNI but without AVX-VNNI
    /// (Intel Cascade/Ice Lake; the CI machine of 2026-12-07) does not list `avxvnni`, whose kernels
    /// would die there of an illegal instruction.
    #[test]
    fn the_supported_levels_are_each_checked_on_their_own_features() {
        let s = supported();
        assert_eq!(s[0], detect_best());
        assert_eq!(*s.last().unwrap(), Isa::Scalar);
        assert!(s.iter().all(|i| i.supported()));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            s.contains(&Isa::AvxVnni),
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("avxvnni"),
            "{s:?}"
        );
    }
}
