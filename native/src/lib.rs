//! sluice-native: per-thread CPU affinity and CPU topology for Node.js.
//!
//! A raw N-API addon with zero crate dependencies. The handful of N-API functions it uses are
//! declared below with `extern "C"`; on Linux they resolve against the `node` executable when
//! the addon is `dlopen()`ed (a cdylib may leave symbols undefined), so no link flags and no
//! `napi`/`napi-derive` crates are needed.
//!
//! JS API (see src/runtime/affinity.ts for the typed loader):
//!   setAffinity(cpus: number[]): void   pin the CALLING THREAD (sched_setaffinity(0, ...))
//!   getAffinity(): number[]             the calling thread's allowed CPUs, ascending
//!   currentCpu(): number                sched_getcpu()
//!   threadId(): number                  kernel thread id (gettid)
//!   topology(): { online, cores }       from /sys/devices/system/cpu
//!   yieldThread(): void                 sched_yield(): let another runnable thread on this CPU run
//!   futexWait(i32, index, expected, timeoutMs): number
//!                                       FUTEX_WAIT_PRIVATE on i32[index]: 0 woken (or spurious),
//!                                       1 the word did not hold `expected`, 2 timed out
//!   futexWake(i32, index, count): number
//!                                       FUTEX_WAKE_PRIVATE: how many sleepers were woken
//!   (the futex pair only on x86_64 and aarch64; i32 must be an Int32Array over a SharedArrayBuffer)
//!   membarrierRegister(): number        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: 0, or the errno
//!                                       (ENOSYS, EINVAL: the kernel has no such command; EPERM: seccomp)
//!   processBarrier(): number            MEMBARRIER_CMD_PRIVATE_EXPEDITED: 0 once every running thread
//!                                       of this process has run a full memory barrier (IPIs), or the
//!                                       errno (then nothing is promised); only after membarrierRegister
//!                                       returned 0 (the pair on x86_64 and aarch64, like the futex pair)
//!
//! Thread safety: there is no global mutable state. `napi_register_module_v1` runs once per
//! environment (main thread and every worker thread) and only creates function objects in that
//! environment; every callback works on its own stack with the `napi_env` it was given.

#[cfg(not(target_os = "linux"))]
compile_error!("sluice-native supports Linux only (sched_setaffinity, /sys topology)");

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

// ------------------------------------------------------------------------------------------
// N-API declarations (node_api.h / js_native_api.h, ABI-stable since N-API 1..3).
// ------------------------------------------------------------------------------------------

#[repr(C)]
pub struct OpaqueEnv {
    _private: [u8; 0],
}
#[repr(C)]
pub struct OpaqueValue {
    _private: [u8; 0],
}
#[repr(C)]
pub struct OpaqueCallbackInfo {
    _private: [u8; 0],
}

type NapiEnv = *mut OpaqueEnv;
type NapiValue = *mut OpaqueValue;
type NapiCallbackInfo = *mut OpaqueCallbackInfo;
/// `napi_status` is a C enum: int-sized, 0 = napi_ok.
type NapiStatus = c_int;
type NapiCallback = Option<unsafe extern "C" fn(NapiEnv, NapiCallbackInfo) -> NapiValue>;

const NAPI_OK: NapiStatus = 0;
/// `napi_valuetype` (C enum, int-sized). Only the ones we name in messages.
const NAPI_TYPE_NAMES: [&str; 10] = [
    "undefined",
    "null",
    "boolean",
    "number",
    "string",
    "symbol",
    "object",
    "function",
    "external",
    "bigint",
];
const NAPI_NUMBER: c_int = 3;

extern "C" {
    fn napi_create_function(
        env: NapiEnv,
        utf8name: *const c_char,
        length: usize,
        cb: NapiCallback,
        data: *mut c_void,
        result: *mut NapiValue,
    ) -> NapiStatus;
    fn napi_set_named_property(
        env: NapiEnv,
        object: NapiValue,
        utf8name: *const c_char,
        value: NapiValue,
    ) -> NapiStatus;
    fn napi_create_uint32(env: NapiEnv, value: u32, result: *mut NapiValue) -> NapiStatus;
    fn napi_create_int32(env: NapiEnv, value: i32, result: *mut NapiValue) -> NapiStatus;
    fn napi_get_value_double(env: NapiEnv, value: NapiValue, result: *mut f64) -> NapiStatus;
    fn napi_create_array_with_length(
        env: NapiEnv,
        length: usize,
        result: *mut NapiValue,
    ) -> NapiStatus;
    fn napi_create_object(env: NapiEnv, result: *mut NapiValue) -> NapiStatus;
    fn napi_set_element(
        env: NapiEnv,
        object: NapiValue,
        index: u32,
        value: NapiValue,
    ) -> NapiStatus;
    fn napi_get_element(
        env: NapiEnv,
        object: NapiValue,
        index: u32,
        result: *mut NapiValue,
    ) -> NapiStatus;
    fn napi_get_array_length(env: NapiEnv, value: NapiValue, result: *mut u32) -> NapiStatus;
    fn napi_is_array(env: NapiEnv, value: NapiValue, result: *mut bool) -> NapiStatus;
    fn napi_typeof(env: NapiEnv, value: NapiValue, result: *mut c_int) -> NapiStatus;
    fn napi_get_cb_info(
        env: NapiEnv,
        cbinfo: NapiCallbackInfo,
        argc: *mut usize,
        argv: *mut NapiValue,
        this_arg: *mut NapiValue,
        data: *mut *mut c_void,
    ) -> NapiStatus;
    fn napi_get_typedarray_info(
        env: NapiEnv,
        typedarray: NapiValue,
        kind: *mut c_int,
        length: *mut usize,
        data: *mut *mut c_void,
        arraybuffer: *mut NapiValue,
        byte_offset: *mut usize,
    ) -> NapiStatus;
    fn napi_is_typedarray(env: NapiEnv, value: NapiValue, result: *mut bool) -> NapiStatus;
    fn napi_is_exception_pending(env: NapiEnv, result: *mut bool) -> NapiStatus;
    fn napi_throw_error(env: NapiEnv, code: *const c_char, msg: *const c_char) -> NapiStatus;
    fn napi_throw_type_error(env: NapiEnv, code: *const c_char, msg: *const c_char) -> NapiStatus;
    fn napi_throw_range_error(env: NapiEnv, code: *const c_char, msg: *const c_char) -> NapiStatus;
}

// ------------------------------------------------------------------------------------------
// libc declarations (glibc and musl both export these).
// ------------------------------------------------------------------------------------------

/// Bits in glibc's `cpu_set_t` (CPU_SETSIZE). CPU indices must be below this.
const CPU_SETSIZE: usize = 1024;
const WORD_BITS: usize = c_ulong::BITS as usize;

/// Layout-compatible with glibc/musl `cpu_set_t`: an array of `unsigned long` where CPU `n` is
/// bit `n % WORD_BITS` of word `n / WORD_BITS` (the kernel's bitmap layout on every endianness).
#[repr(C)]
struct CpuSet {
    bits: [c_ulong; CPU_SETSIZE / WORD_BITS],
}

impl CpuSet {
    fn empty() -> Self {
        CpuSet {
            bits: [0; CPU_SETSIZE / WORD_BITS],
        }
    }
    fn set(&mut self, cpu: usize) {
        self.bits[cpu / WORD_BITS] |= 1 << (cpu % WORD_BITS);
    }
    fn cpus(&self) -> Vec<u32> {
        (0..CPU_SETSIZE)
            .filter(|&cpu| self.bits[cpu / WORD_BITS] & (1 << (cpu % WORD_BITS)) != 0)
            .map(|cpu| cpu as u32)
            .collect()
    }
}

extern "C" {
    fn sched_setaffinity(pid: c_int, cpusetsize: usize, mask: *const CpuSet) -> c_int;
    fn sched_getaffinity(pid: c_int, cpusetsize: usize, mask: *mut CpuSet) -> c_int;
    fn sched_getcpu() -> c_int;
    fn sched_yield() -> c_int;
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
extern "C" {
    fn syscall(number: c_long, ...) -> c_long;
}
/// The raw system calls this addon makes through `syscall` (x86_64 and aarch64: the targets
/// with it): their numbers per target, and the constants they take.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod sys {
    use std::ffi::{c_int, c_long};
    #[cfg(target_arch = "x86_64")]
    mod numbers {
        use std::ffi::c_long;
        pub const SYS_GETTID: c_long = 186;
        pub const SYS_FUTEX: c_long = 202;
        pub const SYS_MEMBARRIER: c_long = 324;
    }
    #[cfg(target_arch = "aarch64")]
    mod numbers {
        use std::ffi::c_long;
        pub const SYS_GETTID: c_long = 178;
        pub const SYS_FUTEX: c_long = 98;
        pub const SYS_MEMBARRIER: c_long = 283;
    }
    pub use numbers::*;
    /// FUTEX_WAIT / FUTEX_WAKE | FUTEX_PRIVATE_FLAG: the waiters are threads of this process.
    pub const FUTEX_WAIT_PRIVATE: c_int = 128;
    pub const FUTEX_WAKE_PRIVATE: c_int = 129;
    pub const EAGAIN: i32 = 11;
    pub const EINTR: i32 = 4;
    pub const ETIMEDOUT: i32 = 110;
    /// `napi_typedarray_type` of an Int32Array.
    pub const NAPI_INT32_ARRAY: c_int = 5;
    /// membarrier(2): the two commands the window's barrier uses.
    pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED: c_int = 1 << 3;
    pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: c_int = 1 << 4;

    /// `struct timespec` (64-bit Linux: two longs).
    #[repr(C)]
    pub struct Timespec {
        pub tv_sec: c_long,
        pub tv_nsec: c_long,
    }
}
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use sys::*;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn gettid() -> i64 {
    // SAFETY: SYS_gettid takes no arguments, cannot fail and touches no memory; the number is
    // the correct one for this target_arch (selected by the cfg above).
    unsafe { syscall(SYS_GETTID) as i64 }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn gettid() -> i64 {
    extern "C" {
        // glibc >= 2.30, musl >= 1.2.2
        #[link_name = "gettid"]
        fn libc_gettid() -> c_int;
    }
    // SAFETY: gettid() takes no arguments, cannot fail and touches no memory.
    unsafe { libc_gettid() as i64 }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

// ------------------------------------------------------------------------------------------
// Errors that become JS exceptions.
// ------------------------------------------------------------------------------------------

enum Throw {
    /// TypeError, code ERR_INVALID_ARG_TYPE.
    Type(String),
    /// RangeError, code ERR_OUT_OF_RANGE.
    Range(String),
    /// Error from a failed libc call; code = errno name (EINVAL, ...).
    Os { call: &'static str, errno: i32 },
    /// A JS exception is already pending (e.g. a getter threw): let it propagate untouched.
    Pending,
    /// An N-API call failed without an exception; should not happen.
    Internal(String),
}

fn errno_name(errno: i32) -> Option<&'static str> {
    // asm-generic numbering, shared by x86_64 and aarch64 (and most Linux targets).
    Some(match errno {
        1 => "EPERM",
        3 => "ESRCH",
        12 => "ENOMEM",
        14 => "EFAULT",
        22 => "EINVAL",
        38 => "ENOSYS",
        _ => return None,
    })
}

fn errno_text(errno: i32) -> String {
    // std formats OS errors as "<strerror text> (os error N)"; keep only the text.
    let full = std::io::Error::from_raw_os_error(errno).to_string();
    match full.rfind(" (os error ") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}

/// Interior NULs cannot come from our own messages, but never panic over it.
fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

// ------------------------------------------------------------------------------------------
// A thin, safe facade over the N-API calls we need.
// ------------------------------------------------------------------------------------------

/// The environment of one in-progress N-API call (module registration or a JS callback).
///
/// Invariant: a `Ctx` is only created from the `napi_env` that Node passed to the currently
/// running callback, on the JS thread that owns it, and never outlives that callback (it is not
/// stored anywhere, and the raw pointer makes it `!Send`/`!Sync`). Under this invariant every
/// N-API call below is made with a valid env, from the right thread, while the handle scope of
/// the callback is open — which is what N-API requires.
struct Ctx {
    env: NapiEnv,
}

type R<T> = Result<T, Throw>;

impl Ctx {
    fn check(&self, status: NapiStatus, what: &str) -> R<()> {
        if status == NAPI_OK {
            return Ok(());
        }
        let mut pending = false;
        // SAFETY: valid env per the Ctx invariant; `pending` is a live local.
        let s = unsafe { napi_is_exception_pending(self.env, &mut pending) };
        if s == NAPI_OK && pending {
            Err(Throw::Pending)
        } else {
            Err(Throw::Internal(format!(
                "{what} failed (napi_status {status})"
            )))
        }
    }

    fn uint32(&self, v: u32) -> R<NapiValue> {
        let mut out = ptr::null_mut();
        // SAFETY: valid env per the Ctx invariant; `out` is a live local the call writes to.
        let s = unsafe { napi_create_uint32(self.env, v, &mut out) };
        self.check(s, "napi_create_uint32").map(|_| out)
    }

    fn int32(&self, v: i32) -> R<NapiValue> {
        let mut out = ptr::null_mut();
        // SAFETY: valid env per the Ctx invariant; `out` is a live local the call writes to.
        let s = unsafe { napi_create_int32(self.env, v, &mut out) };
        self.check(s, "napi_create_int32").map(|_| out)
    }

    fn object(&self) -> R<NapiValue> {
        let mut out = ptr::null_mut();
        // SAFETY: valid env per the Ctx invariant; `out` is a live local the call writes to.
        let s = unsafe { napi_create_object(self.env, &mut out) };
        self.check(s, "napi_create_object").map(|_| out)
    }

    fn set_named(&self, obj: NapiValue, name: &CStr, value: NapiValue) -> R<()> {
        // SAFETY: valid env per the Ctx invariant; `obj`/`value` are handles created in this
        // callback's scope; `name` is a NUL-terminated string that outlives the call.
        let s = unsafe { napi_set_named_property(self.env, obj, name.as_ptr(), value) };
        self.check(s, "napi_set_named_property")
    }

    fn u32_array(&self, items: &[u32]) -> R<NapiValue> {
        let mut arr = ptr::null_mut();
        // SAFETY: valid env per the Ctx invariant; `arr` is a live local the call writes to.
        let s = unsafe { napi_create_array_with_length(self.env, items.len(), &mut arr) };
        self.check(s, "napi_create_array_with_length")?;
        for (i, &item) in items.iter().enumerate() {
            let v = self.uint32(item)?;
            self.set_element(arr, i as u32, v)?;
        }
        Ok(arr)
    }

    fn set_element(&self, arr: NapiValue, index: u32, value: NapiValue) -> R<()> {
        // SAFETY: valid env per the Ctx invariant; both handles belong to this callback scope.
        let s = unsafe { napi_set_element(self.env, arr, index, value) };
        self.check(s, "napi_set_element")
    }

    fn get_element(&self, arr: NapiValue, index: u32) -> R<NapiValue> {
        let mut out = ptr::null_mut();
        // SAFETY: valid env per the Ctx invariant; `arr` belongs to this callback scope and
        // `out` is a live local the call writes to.
        let s = unsafe { napi_get_element(self.env, arr, index, &mut out) };
        self.check(s, "napi_get_element").map(|_| out)
    }

    fn is_array(&self, v: NapiValue) -> R<bool> {
        let mut out = false;
        // SAFETY: valid env per the Ctx invariant; `out` is a live local the call writes to.
        let s = unsafe { napi_is_array(self.env, v, &mut out) };
        self.check(s, "napi_is_array").map(|_| out)
    }

    fn array_length(&self, v: NapiValue) -> R<u32> {
        let mut out = 0u32;
        // SAFETY: valid env per the Ctx invariant; `v` was checked to be an array by the caller
        // (otherwise N-API returns napi_array_expected, which `check` reports).
        let s = unsafe { napi_get_array_length(self.env, v, &mut out) };
        self.check(s, "napi_get_array_length").map(|_| out)
    }

    fn type_name(&self, v: NapiValue) -> R<(c_int, &'static str)> {
        let mut t: c_int = -1;
        // SAFETY: valid env per the Ctx invariant; `t` is a live local the call writes to.
        let s = unsafe { napi_typeof(self.env, v, &mut t) };
        self.check(s, "napi_typeof")?;
        let name = usize::try_from(t)
            .ok()
            .and_then(|i| NAPI_TYPE_NAMES.get(i))
            .copied();
        Ok((t, name.unwrap_or("unknown")))
    }

    fn number(&self, v: NapiValue) -> R<f64> {
        let mut out = 0f64;
        // SAFETY: valid env per the Ctx invariant; `out` is a live local the call writes to.
        let s = unsafe { napi_get_value_double(self.env, v, &mut out) };
        self.check(s, "napi_get_value_double").map(|_| out)
    }

    /// Up to `N` arguments of the current call; missing ones are `None`.
    fn args<const N: usize>(&self, info: NapiCallbackInfo) -> R<(usize, [NapiValue; N])> {
        let mut argc = N;
        let mut argv: [NapiValue; N] = [ptr::null_mut(); N];
        // SAFETY: valid env per the Ctx invariant and `info` is the callback info of this very
        // call; `argv` has room for `argc` (= N) handles, N-API writes at most that many and
        // reports the real count in `argc`; this/data are not requested (NULL is allowed).
        let s = unsafe {
            napi_get_cb_info(
                self.env,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        self.check(s, "napi_get_cb_info").map(|_| (argc, argv))
    }

    fn throw(&self, t: Throw) {
        let (kind, code, msg) = match t {
            Throw::Pending => return,
            Throw::Type(m) => (1, "ERR_INVALID_ARG_TYPE".to_string(), m),
            Throw::Range(m) => (2, "ERR_OUT_OF_RANGE".to_string(), m),
            Throw::Os { call, errno } => {
                let name = errno_name(errno);
                let text = errno_text(errno);
                let msg = match name {
                    Some(n) => format!("{call} failed: errno {errno} ({n}: {text})"),
                    None => format!("{call} failed: errno {errno} ({text})"),
                };
                (0, name.unwrap_or("ERR_SLUICE_OS").to_string(), msg)
            }
            Throw::Internal(m) => (
                0,
                "ERR_SLUICE_NATIVE".to_string(),
                format!("sluice-native: {m}"),
            ),
        };
        let code = cstring(&code);
        let msg = cstring(&msg);
        // SAFETY: valid env per the Ctx invariant; `code` and `msg` are NUL-terminated strings
        // that live until the end of this function, and N-API copies them. If an exception is
        // already pending the call fails harmlessly (the pending one wins).
        unsafe {
            match kind {
                1 => napi_throw_type_error(self.env, code.as_ptr(), msg.as_ptr()),
                2 => napi_throw_range_error(self.env, code.as_ptr(), msg.as_ptr()),
                _ => napi_throw_error(self.env, code.as_ptr(), msg.as_ptr()),
            };
        }
    }
}

/// Runs one JS callback body; turns `Err` into a JS exception and a Rust panic into a JS Error
/// (never unwinds across the FFI boundary).
fn run(
    env: NapiEnv,
    info: NapiCallbackInfo,
    body: fn(&Ctx, NapiCallbackInfo) -> R<NapiValue>,
) -> NapiValue {
    let ctx = Ctx { env };
    match catch_unwind(AssertUnwindSafe(|| body(&ctx, info))) {
        Ok(Ok(v)) => v,
        Ok(Err(t)) => {
            ctx.throw(t);
            ptr::null_mut()
        }
        Err(_) => {
            ctx.throw(Throw::Internal("internal panic".to_string()));
            ptr::null_mut()
        }
    }
}

// ------------------------------------------------------------------------------------------
// The exported functions.
// ------------------------------------------------------------------------------------------

fn parse_cpu_arg(ctx: &Ctx, info: NapiCallbackInfo) -> R<CpuSet> {
    let (argc, argv) = ctx.args::<1>(info)?;
    let usage = "setAffinity(cpus): cpus must be an array of CPU indices";
    if argc < 1 || !ctx.is_array(argv[0])? {
        let got = if argc < 1 {
            "nothing"
        } else {
            ctx.type_name(argv[0])?.1
        };
        return Err(Throw::Type(format!("{usage}, got {got}")));
    }
    let arr = argv[0];
    let len = ctx.array_length(arr)?;
    if len == 0 {
        return Err(Throw::Range(format!("{usage}; the list must not be empty")));
    }
    let mut set = CpuSet::empty();
    for i in 0..len {
        let v = ctx.get_element(arr, i)?;
        let (t, tname) = ctx.type_name(v)?;
        if t != NAPI_NUMBER {
            return Err(Throw::Type(format!(
                "setAffinity: cpus[{i}] must be an integer, got {tname}"
            )));
        }
        let n = ctx.number(v)?;
        if !n.is_finite() || n.fract() != 0.0 {
            let shown = if n.is_infinite() {
                if n > 0.0 {
                    "Infinity".to_string()
                } else {
                    "-Infinity".to_string()
                }
            } else {
                n.to_string()
            };
            return Err(Throw::Type(format!(
                "setAffinity: cpus[{i}] must be an integer, got {shown}"
            )));
        }
        if n < 0.0 || n >= CPU_SETSIZE as f64 {
            return Err(Throw::Range(format!(
                "setAffinity: cpus[{i}] = {n} is out of range (0 <= cpu < {CPU_SETSIZE})"
            )));
        }
        set.set(n as usize);
    }
    Ok(set)
}

fn set_affinity(ctx: &Ctx, info: NapiCallbackInfo) -> R<NapiValue> {
    let set = parse_cpu_arg(ctx, info)?;
    // SAFETY: `set` is a live, initialised cpu_set_t-compatible buffer of exactly the size we
    // pass; pid 0 means the calling thread; the kernel only reads the buffer.
    let rc = unsafe { sched_setaffinity(0, std::mem::size_of::<CpuSet>(), &set) };
    if rc != 0 {
        return Err(Throw::Os {
            call: "sched_setaffinity",
            errno: last_errno(),
        });
    }
    Ok(ptr::null_mut()) // undefined
}

/// Allowed CPUs of `pid` (0 = calling thread).
fn affinity_of(pid: c_int) -> R<Vec<u32>> {
    let mut set = CpuSet::empty();
    // SAFETY: `set` is a live, writable buffer of exactly the size we pass; the kernel writes at
    // most that many bytes.
    let rc = unsafe { sched_getaffinity(pid, std::mem::size_of::<CpuSet>(), &mut set) };
    if rc != 0 {
        return Err(Throw::Os {
            call: "sched_getaffinity",
            errno: last_errno(),
        });
    }
    Ok(set.cpus())
}

fn get_affinity(ctx: &Ctx, _info: NapiCallbackInfo) -> R<NapiValue> {
    ctx.u32_array(&affinity_of(0)?)
}

fn current_cpu(ctx: &Ctx, _info: NapiCallbackInfo) -> R<NapiValue> {
    // SAFETY: sched_getcpu() takes no arguments and touches no caller memory.
    let cpu = unsafe { sched_getcpu() };
    if cpu < 0 {
        return Err(Throw::Os {
            call: "sched_getcpu",
            errno: last_errno(),
        });
    }
    ctx.int32(cpu)
}

/// Spinning politely: a spinner that shares its CPU with the thread it waits for must give it
/// the CPU, or each side burns its whole spin budget before the other runs.
fn yield_thread(_ctx: &Ctx, _info: NapiCallbackInfo) -> R<NapiValue> {
    // SAFETY: sched_yield() takes no arguments and touches no caller memory; it cannot fail on Linux.
    unsafe { sched_yield() };
    Ok(ptr::null_mut()) // undefined
}

fn thread_id(ctx: &Ctx, _info: NapiCallbackInfo) -> R<NapiValue> {
    let tid = gettid();
    let tid = i32::try_from(tid).map_err(|_| Throw::Internal(format!("gettid returned {tid}")))?;
    ctx.int32(tid)
}

/// Parses a kernel CPU list such as "0-3,8,10-11\n". `None` if malformed.
fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    const LIMIT: u32 = 1 << 16; // sanity bound against garbage
    let mut out = Vec::new();
    for part in s.trim().split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => {
                let n = part.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi >= LIMIT {
            return None;
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

fn read_sys_id(path: &str) -> Option<u32> {
    let s = std::fs::read_to_string(path).ok()?;
    // physical_package_id is -1 where the platform does not tell; treat as unknown.
    s.trim()
        .parse::<i64>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
}

fn topology(ctx: &Ctx, _info: NapiCallbackInfo) -> R<NapiValue> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(&s))
        .filter(|v| !v.is_empty());
    let online = match online {
        Some(v) => v,
        // No sysfs (unusual container): the process's (main thread's) allowed set is the best
        // available approximation.
        None => affinity_of(std::process::id() as c_int)?,
    };

    let result = ctx.object()?;
    ctx.set_named(result, c"online", ctx.u32_array(&online)?)?;

    let mut cores = ptr::null_mut();
    // SAFETY: valid env per the Ctx invariant; `cores` is a live local the call writes to.
    let s = unsafe { napi_create_array_with_length(ctx.env, online.len(), &mut cores) };
    ctx.check(s, "napi_create_array_with_length")?;
    for (i, &cpu) in online.iter().enumerate() {
        let base = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
        let core = read_sys_id(&format!("{base}/core_id")).unwrap_or(cpu);
        let package = read_sys_id(&format!("{base}/physical_package_id")).unwrap_or(0);
        let entry = ctx.object()?;
        ctx.set_named(entry, c"cpu", ctx.uint32(cpu)?)?;
        ctx.set_named(entry, c"core", ctx.uint32(core)?)?;
        ctx.set_named(entry, c"package", ctx.uint32(package)?)?;
        ctx.set_element(cores, i as u32, entry)?;
    }
    ctx.set_named(result, c"cores", cores)?;
    Ok(result)
}

/// The address of `i32[index]` for the futex calls, whose first two arguments are (i32, index).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn futex_word(ctx: &Ctx, argv: &[NapiValue], argc: usize, what: &str) -> R<*mut i32> {
    if argc < 3 {
        return Err(Throw::Type(format!("{what}: expected (i32: Int32Array, index, value)")));
    }
    let mut is_ta = false;
    // SAFETY: valid env per the Ctx invariant; `is_ta` is a live local the call writes to.
    let s = unsafe { napi_is_typedarray(ctx.env, argv[0], &mut is_ta) };
    ctx.check(s, "napi_is_typedarray")?;
    let (mut kind, mut len, mut data, mut offset) = (-1 as c_int, 0usize, ptr::null_mut(), 0usize);
    if is_ta {
        // SAFETY: argv[0] is a typed array (checked above); every out-pointer is a live local
        // (arraybuffer may be NULL: not requested).
        let s = unsafe {
            napi_get_typedarray_info(ctx.env, argv[0], &mut kind, &mut len, &mut data, ptr::null_mut(), &mut offset)
        };
        ctx.check(s, "napi_get_typedarray_info")?;
    }
    if kind != NAPI_INT32_ARRAY || data.is_null() {
        return Err(Throw::Type(format!("{what}: the first argument must be an Int32Array")));
    }
    let index = ctx.number(argv[1])?;
    if !(index >= 0.0 && index.fract() == 0.0 && (index as usize) < len) {
        return Err(Throw::Range(format!("{what}: index {index} is not an element of the array (length {len})")));
    }
    // SAFETY: `data` points at element 0 of a live Int32Array of `len` elements (N-API adds the
    // view's byte offset) and index < len; the caller holds the array for the whole call.
    Ok(unsafe { (data as *mut i32).add(index as usize) })
}

/// Parks the calling thread while i32[index] == expected, at most timeoutMs (Infinity: no
/// limit). The kernel compares and sleeps atomically, so a wake that lands between the caller's
/// last check and this call is never lost.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn futex_wait(ctx: &Ctx, info: NapiCallbackInfo) -> R<NapiValue> {
    let (argc, argv) = ctx.args::<4>(info)?;
    let word = futex_word(ctx, &argv, argc, "futexWait")?;
    let expected = ctx.number(argv[2])? as i64 as i32;
    let timeout_ms = if argc >= 4 { ctx.number(argv[3])? } else { f64::INFINITY };
    let ts = if timeout_ms.is_finite() {
        let ns = (timeout_ms.max(0.0) * 1e6) as i64;
        Some(Timespec { tv_sec: (ns / 1_000_000_000) as c_long, tv_nsec: (ns % 1_000_000_000) as c_long })
    } else {
        None
    };
    let tsp: *const Timespec = ts.as_ref().map_or(ptr::null(), |t| t as *const Timespec);
    // SAFETY: `word` is a valid, aligned i32 in live memory (futex_word); `tsp` is NULL or points
    // at a live Timespec; FUTEX_WAIT reads neither uaddr2 nor val3.
    let r = unsafe { syscall(SYS_FUTEX, word, FUTEX_WAIT_PRIVATE, expected, tsp, ptr::null::<i32>(), 0 as c_int) };
    let code = if r == 0 {
        0
    } else {
        match last_errno() {
            EAGAIN => 1,
            ETIMEDOUT => 2,
            EINTR => 0,
            errno => return Err(Throw::Os { call: "futex(FUTEX_WAIT)", errno }),
        }
    };
    ctx.int32(code)
}

/// Wakes up to `count` threads parked on i32[index] by futexWait.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn futex_wake(ctx: &Ctx, info: NapiCallbackInfo) -> R<NapiValue> {
    let (argc, argv) = ctx.args::<3>(info)?;
    let word = futex_word(ctx, &argv, argc, "futexWake")?;
    let count = ctx.number(argv[2])?;
    let count = if count >= 1.0 { count.min(i32::MAX as f64) as c_int } else { 1 };
    // SAFETY: as in futex_wait; FUTEX_WAKE reads no timeout, uaddr2 or val3.
    let r = unsafe {
        syscall(SYS_FUTEX, word, FUTEX_WAKE_PRIVATE, count, ptr::null::<Timespec>(), ptr::null::<i32>(), 0 as c_int)
    };
    if r < 0 {
        return Err(Throw::Os { call: "futex(FUTEX_WAKE)", errno: last_errno() });
    }
    ctx.int32(r as i32)
}

/// Registers this process for MEMBARRIER_CMD_PRIVATE_EXPEDITED (idempotent): 0, or the errno.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn membarrier_register(ctx: &Ctx, _info: NapiCallbackInfo) -> R<NapiValue> {
    // SAFETY: membarrier(cmd, flags = 0, cpu_id = 0) reads and writes no caller memory; the
    // number is this target_arch's (selected by the cfg above).
    let r = unsafe { syscall(SYS_MEMBARRIER, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0 as c_int, 0 as c_int) };
    ctx.int32(if r == 0 { 0 } else { last_errno() })
}

/// A full memory barrier on every CPU that runs a thread of this process (IPIs), then return:
/// 0, or the errno (nothing is promised then).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn process_barrier(ctx: &Ctx, _info: NapiCallbackInfo) -> R<NapiValue> {
    // SAFETY: as in membarrier_register.
    let r = unsafe { syscall(SYS_MEMBARRIER, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0 as c_int, 0 as c_int) };
    ctx.int32(if r == 0 { 0 } else { last_errno() })
}

// ------------------------------------------------------------------------------------------
// C entry points.
// ------------------------------------------------------------------------------------------

macro_rules! js_fn {
    ($name:ident => $body:ident) => {
        unsafe extern "C" fn $name(env: NapiEnv, info: NapiCallbackInfo) -> NapiValue {
            run(env, info, $body)
        }
    };
}
js_fn!(js_set_affinity => set_affinity);
js_fn!(js_get_affinity => get_affinity);
js_fn!(js_current_cpu => current_cpu);
js_fn!(js_thread_id => thread_id);
js_fn!(js_topology => topology);
js_fn!(js_yield_thread => yield_thread);
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
js_fn!(js_futex_wait => futex_wait);
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
js_fn!(js_futex_wake => futex_wake);
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
js_fn!(js_membarrier_register => membarrier_register);
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
js_fn!(js_process_barrier => process_barrier);

fn register(ctx: &Ctx, exports: NapiValue) -> R<NapiValue> {
    type JsFn = unsafe extern "C" fn(NapiEnv, NapiCallbackInfo) -> NapiValue;
    #[allow(unused_mut)] // extended below on the architectures with the futex pair
    let mut fns: Vec<(&CStr, JsFn)> = vec![
        (c"setAffinity", js_set_affinity),
        (c"getAffinity", js_get_affinity),
        (c"currentCpu", js_current_cpu),
        (c"threadId", js_thread_id),
        (c"topology", js_topology),
        (c"yieldThread", js_yield_thread),
    ];
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fns.extend([
        (c"futexWait", js_futex_wait as JsFn),
        (c"futexWake", js_futex_wake as JsFn),
        (c"membarrierRegister", js_membarrier_register as JsFn),
        (c"processBarrier", js_process_barrier as JsFn),
    ]);
    for (name, cb) in fns {
        let mut f = ptr::null_mut();
        // SAFETY: valid env per the Ctx invariant; `name` is NUL-terminated and 'static (N-API
        // copies it; length NAPI_AUTO_LENGTH = usize::MAX means "up to the NUL"); `cb` is a
        // function with the napi_callback ABI; no data pointer; `f` is a live local.
        let s = unsafe {
            napi_create_function(
                ctx.env,
                name.as_ptr(),
                usize::MAX,
                Some(cb),
                ptr::null_mut(),
                &mut f,
            )
        };
        ctx.check(s, "napi_create_function")?;
        ctx.set_named(exports, name, f)?;
    }
    Ok(exports)
}

/// Called by Node once per environment (main thread and each worker thread) that loads the addon.
///
/// # Safety
/// Must only be called by Node's addon loader with the env and exports object of the loading
/// environment, on that environment's JS thread.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: NapiEnv, exports: NapiValue) -> NapiValue {
    let ctx = Ctx { env };
    match catch_unwind(AssertUnwindSafe(|| register(&ctx, exports))) {
        Ok(Ok(v)) => v,
        Ok(Err(t)) => {
            ctx.throw(t);
            ptr::null_mut()
        }
        Err(_) => {
            ctx.throw(Throw::Internal(
                "panic during module registration".to_string(),
            ));
            ptr::null_mut()
        }
    }
}
