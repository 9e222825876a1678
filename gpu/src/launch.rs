//! A kernel as the host code sees it: a name (the PTX entry a GPU launches) and the same kernel
//! compiled for the CPU (what the emulator runs), both called with one argument list. `kernels!`
//! declares each kernel once, from its C signature.
use std::ffi::c_void;

/// One kernel argument: a device address or a scalar, passed by value as CUDA passes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg {
    Ptr(u64),
    I32(i32),
    U32(u32),
    F32(f32),
}

/// The null device address (an optional pointer argument left out).
pub const NULL: Arg = Arg::Ptr(0);

/// The type of a kernel parameter, as [`Arg`]'s variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Ptr,
    I32,
    U32,
    F32,
}

impl Arg {
    pub fn kind(self) -> ArgKind {
        match self {
            Arg::Ptr(_) => ArgKind::Ptr,
            Arg::I32(_) => ArgKind::I32,
            Arg::U32(_) => ArgKind::U32,
            Arg::F32(_) => ArgKind::F32,
        }
    }
}

/// Converts an argument to the parameter type of the CPU-compiled kernel; a mismatch between a call's
/// arguments and the kernel's signature is a bug in the caller and panics, naming both.
pub trait FromArg {
    const KIND: ArgKind;
    fn from_arg(a: Arg) -> Self;
}

impl FromArg for *mut c_void {
    const KIND: ArgKind = ArgKind::Ptr;
    fn from_arg(a: Arg) -> Self {
        match a {
            Arg::Ptr(p) => p as usize as *mut c_void,
            other => panic!("kernel argument: expected a device address, got {other:?}"),
        }
    }
}

macro_rules! scalar_arg {
    ($t:ty, $variant:ident) => {
        impl FromArg for $t {
            const KIND: ArgKind = ArgKind::$variant;
            fn from_arg(a: Arg) -> Self {
                match a {
                    Arg::$variant(v) => v,
                    other => panic!("kernel argument: expected {}, got {other:?}", stringify!($t)),
                }
            }
        }
    };
}
scalar_arg!(i32, I32);
scalar_arg!(u32, U32);
scalar_arg!(f32, F32);

/// A kernel of `gpu/kernels/`: its entry name, and a caller of its CPU build for the emulator.
#[derive(Clone, Copy)]
pub struct Kernel {
    pub name: &'static str,
    /// Its parameters' types, in order: a launch's arguments are checked against them first.
    pub params: &'static [ArgKind],
    /// Calls the CPU build with `args` (their count and types checked): one thread's turn.
    pub(crate) emulated: unsafe fn(&[Arg]),
}

impl Kernel {
    /// Errs, naming the kernel, unless `args` match its parameters in number and type.
    pub fn check(&self, args: &[Arg]) -> Result<(), String> {
        let kinds: Vec<ArgKind> = args.iter().map(|a| a.kind()).collect();
        if kinds == self.params {
            Ok(())
        } else {
            Err(format!("{}: arguments {kinds:?} given, {:?} expected", self.name, self.params))
        }
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// `kernels! { name(arg: P, n: i32, …); … }` declares each `extern "C" __global__` kernel of
/// gpu/kernels/ (P: a device pointer) as a [`Kernel`] constant of the same name.
#[macro_export]
macro_rules! kernels {
    ($( $(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),* $(,)?); )*) => {
        mod ffi {
            #[allow(unused_imports)]
            use super::*;
            extern "C" { $( pub fn $name($($arg: $ty),*); )* }
        }
        $(
            $(#[$doc])*
            #[allow(non_upper_case_globals)]
            pub const $name: $crate::launch::Kernel = $crate::launch::Kernel {
                name: stringify!($name),
                params: &[$(<$ty as $crate::launch::FromArg>::KIND),*],
                emulated: {
                    unsafe fn call(args: &[$crate::launch::Arg]) {
                        let &[$($arg),*] = args else {
                            panic!("{}: {} arguments given, {} expected", stringify!($name), args.len(), [$(stringify!($arg)),*].len())
                        };
                        // SAFETY: the caller (a launch) hands over addresses of live buffers.
                        unsafe { ffi::$name($($crate::launch::FromArg::from_arg($arg)),*) }
                    }
                    call
                },
            };
        )*
    };
}
