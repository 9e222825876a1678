// The emulation's scheduler (see cuda_emu.h for the model): a launch's blocks run one after another,
// a block's threads as fibers on the calling OS thread, switching at barriers and warp operations.
// The C entry point sq_emu_launch is what the Rust side calls (gpu/src/emulated.rs).
#include <sys/mman.h>

#include <algorithm>
#include <deque>
#include <cstdio>
#if !defined(__x86_64__) || defined(SQ_EMU_UCONTEXT)
#include <ucontext.h>
#endif
#include <string>
#include <vector>

#include "cuda_emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define SQ_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SQ_EMU_ASAN 1
#endif
#endif
#ifdef SQ_EMU_ASAN
// AddressSanitizer must be told when the stack changes under it, or it reports the fibers' frames.
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, size_t* size_old);
extern "C" void __asan_unpoison_memory_region(void const volatile* addr, size_t size);
#endif

namespace sq_emu {
namespace {

// A fiber's saved execution state, and the switch between two. On x86-64 a switch is a few
// instructions (the callee-saved registers, the stack pointer, the SSE and x87 control words): a
// block's threads switch at every barrier, and ucontext's swapcontext makes a system call per switch
// (the signal mask), which made it most of an emulated run's time. Elsewhere, or with SQ_EMU_UCONTEXT
// defined (SQLORA_GPU_UCONTEXT=1 at build time: scripts/gpu_check.sh tests that path too), ucontext.
#if defined(__x86_64__) && !defined(SQ_EMU_UCONTEXT)
struct Context {
    void* sp = nullptr;
};
extern "C" void sq_emu_switch(void** save_sp, void* load_sp);
asm(R"(
    .text
    .globl sq_emu_switch
    .type sq_emu_switch, @function
sq_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size sq_emu_switch, .-sq_emu_switch
)");

// A stack that starts `entry` at the first switch into it: the frame sq_emu_switch pops (control
// words, six registers) below `entry` as the return address, aligned as a call would leave it.
void context_init(Context& c, char* bottom, size_t size, void (*entry)()) {
    uintptr_t top = (reinterpret_cast<uintptr_t>(bottom) + size) & ~uintptr_t(15);
    auto* slot = reinterpret_cast<uint64_t*>(top - 16);  // [entry][unused]: entry at a 16-aligned address
    slot[0] = reinterpret_cast<uint64_t>(entry);
    slot[1] = 0;
    uint64_t* frame = slot - 7;  // control words, r15, r14, r13, r12, rbx, rbp
    uint32_t mxcsr;
    uint16_t fpucw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    frame[0] = mxcsr | (uint64_t)fpucw << 32;
    for (int i = 1; i < 7; i++) frame[i] = 0;
    c.sp = frame;
}
inline void context_switch(Context& from, Context& to) { sq_emu_switch(&from.sp, to.sp); }
#else
struct Context {
    ucontext_t uc;
};
void context_init(Context& c, char* bottom, size_t size, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = bottom;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, entry, 0);
}
inline void context_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

// Big enough for a kernel's locals and the Rust closure that calls it; guarded below and above.
constexpr size_t kStack = 256 * 1024;
constexpr size_t kGuard = 4096;
constexpr int kMaxThreads = 1024;

enum class State { Runnable, AtBarrier, AtWarp, Done };

struct Fiber {
    Context ctx;
    ThreadCtx tc;
    State state;
    int lane, warp;
    // The warp operation it waits in, and what it gets back.
    WarpOp op;
    unsigned mask;
    uint64_t value, result;
    int arg, width;
    // A gather's input and output (WarpOp::Gather).
    const void* gather_in;
    void* gather_out;
    size_t gather_bytes;
    // cp.async copies issued and not yet made: the open group, then the committed ones, oldest first.
    struct Copy {
        void* dst;
        const void* src;
        size_t bytes;
    };
    std::vector<Copy> open_copies;
    std::deque<std::vector<Copy>> copy_groups;
};

struct Stack {
    char* base = nullptr;  // the mapping: guard, stack, guard
    char* bottom() const { return base + kGuard; }
};

struct Block {
    std::vector<Fiber> fibers;
    Context scheduler;
    void (*body)(void*) = nullptr;
    void* body_ctx = nullptr;
    std::vector<unsigned char> dynamic_shared;
    std::string error;
    Fiber* running = nullptr;
#ifdef SQ_EMU_ASAN
    void* fake_stack = nullptr;
    const void* sched_bottom = nullptr;
    size_t sched_size = 0;
#endif
};

thread_local Block* t_block = nullptr;
thread_local std::vector<Stack> t_stacks;
thread_local std::vector<std::pair<void*, size_t>> t_shared;

Stack& stack_for(size_t i) {
    while (t_stacks.size() <= i) {
        void* p = mmap(nullptr, kStack + 2 * kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (p == MAP_FAILED) {
            std::perror("sq_emu: mmap of a fiber stack");
            std::abort();
        }
        char* base = static_cast<char*>(p);
        mprotect(base, kGuard, PROT_NONE);
        mprotect(base + kGuard + kStack, kGuard, PROT_NONE);
        t_stacks.push_back(Stack{base});
    }
    return t_stacks[i];
}

// Fiber → scheduler.
void yield_to_scheduler(State s) {
    Block* b = t_block;
    Fiber* f = b->running;
    f->state = s;
#ifdef SQ_EMU_ASAN
    void* save = nullptr;
    // A returning fiber never runs again: no fake stack to keep (nullptr tells ASan so).
    __sanitizer_start_switch_fiber(s == State::Done ? nullptr : &save, b->sched_bottom, b->sched_size);
#endif
    context_switch(f->ctx, b->scheduler);
#ifdef SQ_EMU_ASAN
    __sanitizer_finish_switch_fiber(save, nullptr, nullptr);
#endif
}

std::string where(const Fiber& f);

void fiber_main() {
#ifdef SQ_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &t_block->sched_bottom, &t_block->sched_size);
#endif
    t_block->body(t_block->body_ctx);
    Fiber* f = t_block->running;
    if ((!f->open_copies.empty() || !f->copy_groups.empty()) && t_block->error.empty())
        t_block->error = where(*f) + " returned with cp.async copies it never waited for";
    yield_to_scheduler(State::Done);
}

void poison_shared() {
    for (auto& [p, n] : t_shared) std::memset(p, 0xff, n);  // all-ones bytes: NaN as f32, -1 as ints
}

std::string where(const Fiber& f) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "thread (%u,%u,%u) of block (%u,%u,%u)", f.tc.thread_idx.x, f.tc.thread_idx.y,
                  f.tc.thread_idx.z, f.tc.block_idx.x, f.tc.block_idx.y, f.tc.block_idx.z);
    return buf;
}

// Completes the warp operation that every lane of some warp now waits in; false if none can.
bool release_warps(Block& b) {
    bool released = false;
    size_t n = b.fibers.size();
    for (size_t w0 = 0; w0 < n; w0 += 32) {
        size_t w1 = std::min(n, w0 + 32);
        // The lanes waiting, and the union of their masks: they complete together once every lane the
        // masks name waits too.
        unsigned waiting = 0, named = 0;
        for (size_t i = w0; i < w1; i++) {
            Fiber& f = b.fibers[i];
            if (f.state == State::AtWarp) {
                waiting |= 1u << f.lane;
                named |= f.mask;
            }
        }
        if (waiting == 0 || (named & ~waiting) != 0) continue;
        const Fiber& first = b.fibers[w0 + __builtin_ctz(waiting)];
        for (size_t i = w0; i < w1; i++) {
            Fiber& f = b.fibers[i];
            if (f.state != State::AtWarp) continue;
            if (f.op != first.op || f.mask != first.mask || (f.op == WarpOp::Gather && f.gather_bytes != first.gather_bytes)) {
                b.error = where(f) + " is in a different warp operation (or mask) than " + where(first);
                return false;
            }
        }
        if (first.op == WarpOp::Gather) {
            for (size_t i = w0; i < w1; i++) {
                Fiber& f = b.fibers[i];
                if (f.state != State::AtWarp) continue;
                for (size_t j = w0; j < w1; j++)
                    if (f.mask >> b.fibers[j].lane & 1)
                        std::memcpy(static_cast<char*>(f.gather_out) + (size_t)b.fibers[j].lane * f.gather_bytes,
                                    b.fibers[j].gather_in, f.gather_bytes);
            }
            for (size_t i = w0; i < w1; i++)
                if (b.fibers[i].state == State::AtWarp) b.fibers[i].state = State::Runnable;
            released = true;
            continue;
        }
        for (size_t i = w0; i < w1; i++) {
            Fiber& f = b.fibers[i];
            if (f.state != State::AtWarp) continue;
            int w = f.width, seg = f.lane & ~(w - 1), src = f.lane;
            switch (f.op) {
                case WarpOp::ShflIdx: src = seg + (f.arg & (w - 1)); break;
                case WarpOp::ShflUp: src = (f.lane - seg) >= f.arg ? f.lane - f.arg : f.lane; break;
                case WarpOp::ShflDown: src = (f.lane - seg) + f.arg < w ? f.lane + f.arg : f.lane; break;
                case WarpOp::ShflXor: src = ((f.lane ^ f.arg) & ~(w - 1)) == seg ? f.lane ^ f.arg : f.lane; break;
                case WarpOp::Ballot:
                case WarpOp::Gather: break;
            }
            if (f.op == WarpOp::Ballot) {
                uint64_t bits = 0;
                for (size_t j = w0; j < w1; j++)
                    if (b.fibers[j].state == State::AtWarp && b.fibers[j].value) bits |= 1ull << b.fibers[j].lane;
                f.result = bits;
            } else {
                size_t s = w0 + src;
                if (s >= w1 || !(f.mask >> src & 1)) {
                    b.error = where(f) + " reads lane " + std::to_string(src) + ", which is not in the shuffle's mask";
                    return false;
                }
                f.result = b.fibers[s].value;
            }
        }
        for (size_t i = w0; i < w1; i++)
            if (b.fibers[i].state == State::AtWarp) b.fibers[i].state = State::Runnable;
        released = true;
    }
    return released;
}

// Runs one block to completion; false (with b.error set) when its threads cannot all finish.
bool run_block(Block& b, bool reverse) {
    size_t n = b.fibers.size();
    for (;;) {
        bool ran = false;
        for (size_t k = 0; k < n; k++) {
            Fiber& f = b.fibers[reverse ? n - 1 - k : k];
            if (f.state != State::Runnable) continue;
            b.running = &f;
            t_block = &b;
#ifdef SQ_EMU_ASAN
            void* save = nullptr;
            Stack& s = stack_for(&f - b.fibers.data());
            __sanitizer_start_switch_fiber(&save, s.bottom(), kStack);
#endif
            context_switch(b.scheduler, f.ctx);
#ifdef SQ_EMU_ASAN
            __sanitizer_finish_switch_fiber(save, nullptr, nullptr);
#endif
            ran = true;
        }
        if (!b.error.empty()) return false;
        if (ran) continue;
        if (release_warps(b)) continue;
        if (!b.error.empty()) return false;
        size_t done = 0, at_barrier = 0;
        const Fiber *a_done = nullptr, *a_barrier = nullptr, *a_warp = nullptr;
        for (auto& f : b.fibers) {
            if (f.state == State::Done) {
                done++;
                a_done = &f;
            } else if (f.state == State::AtBarrier) {
                at_barrier++;
                a_barrier = &f;
            } else {
                a_warp = &f;
            }
        }
        if (done == n) return true;
        if (at_barrier == n) {
            for (auto& f : b.fibers) f.state = State::Runnable;
            continue;
        }
        if (a_warp) {
            b.error = where(*a_warp) + " waits in a warp operation that lanes of its mask never reach" +
                      (a_barrier ? " (" + where(*a_barrier) + " waits at __syncthreads)"
                                 : " (" + where(*a_done) + " has returned)");
        } else {
            b.error = "__syncthreads not reached by every thread: " + where(*a_barrier) + " waits at it, " +
                      where(*a_done) + " has returned";
        }
        return false;
    }
}

// Sets up thread i of a block to start at the kernel. Its own function: ucontext's getcontext returns
// twice, and the launch's loop variables must not live in a frame that does.
__attribute__((noinline)) void prepare(Fiber& f, size_t i, dim3 block_idx, const unsigned block[3], const unsigned grid[3]) {
#ifdef SQ_EMU_ASAN
    // The stack's last user never returned (a finished thread is simply dropped): clear the red zones
    // its frames left, or reusing the stack reads as an overflow.
    __asan_unpoison_memory_region(stack_for(i).bottom(), kStack);
#endif
    unsigned tx = i % block[0], ty = (i / block[0]) % block[1], tz = i / (block[0] * block[1]);
    f.tc = ThreadCtx{dim3(tx, ty, tz), block_idx, dim3(block[0], block[1], block[2]), dim3(grid[0], grid[1], grid[2])};
    f.state = State::Runnable;
    f.open_copies.clear();
    f.copy_groups.clear();
    f.lane = (int)(i % 32);
    f.warp = (int)(i / 32);
    Stack& s = stack_for(i);
    context_init(f.ctx, s.bottom(), kStack, fiber_main);
}

}  // namespace

ThreadCtx& current() { return t_block->running->tc; }

void syncthreads() { yield_to_scheduler(State::AtBarrier); }

uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int arg, int width) {
    Fiber* f = t_block->running;
    if (!(mask >> f->lane & 1)) {
        t_block->error = where(*f) + " calls a warp operation whose mask leaves out its own lane";
    }
    f->op = op;
    f->mask = mask;
    f->value = value;
    f->arg = arg;
    f->width = width;
    yield_to_scheduler(State::AtWarp);
    return t_block->running->result;
}

void syncwarp(unsigned mask) { warp_exchange(WarpOp::Ballot, mask, 0, 0, 32); }

void warp_gather(unsigned mask, const void* in, size_t bytes, void* out) {
    Fiber* f = t_block->running;
    if (!(mask >> f->lane & 1)) t_block->error = where(*f) + " calls a warp operation whose mask leaves out its own lane";
    f->op = WarpOp::Gather;
    f->mask = mask;
    f->gather_in = in;
    f->gather_out = out;
    f->gather_bytes = bytes;
    yield_to_scheduler(State::AtWarp);
}

void cp_async(void* dst, const void* src, size_t bytes) {
    Fiber* f = t_block->running;
    if ((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) % bytes != 0)
        fail("cp.async with an address not aligned to its size");
    f->open_copies.push_back(Fiber::Copy{dst, src, bytes});
}

void cp_async_commit() {
    Fiber* f = t_block->running;
    f->copy_groups.push_back(std::move(f->open_copies));
    f->open_copies.clear();
}

void cp_async_wait(int keep_pending) {
    Fiber* f = t_block->running;
    while (f->copy_groups.size() > (size_t)std::max(keep_pending, 0)) {
        for (const auto& c : f->copy_groups.front()) std::memcpy(c.dst, c.src, c.bytes);
        f->copy_groups.pop_front();
    }
}

void fail(const char* message) {
    if (t_block->error.empty()) t_block->error = where(*t_block->running) + ": " + message;
}

void* dynamic_shared() { return t_block->dynamic_shared.data(); }

bool register_shared(void* p, size_t bytes) {
    t_shared.emplace_back(p, bytes);
    std::memset(p, 0xff, bytes);
    return true;
}

}  // namespace sq_emu

using namespace sq_emu;

// Runs `body(ctx)` as every thread of a grid. Returns 0, or 1 with a message in err (the launch
// stops at the first block whose threads cannot all finish).
extern "C" int sq_emu_launch(const unsigned grid[3], const unsigned block[3], size_t dynamic_shared_bytes, int reverse,
                             void (*body)(void*), void* ctx, char* err, size_t err_len) {
    size_t threads = (size_t)block[0] * block[1] * block[2];
    auto fail = [&](const std::string& m) {
        std::snprintf(err, err_len, "%s", m.c_str());
        return 1;
    };
    if (threads == 0 || threads > (size_t)kMaxThreads) return fail("a block of " + std::to_string(threads) + " threads (1..1024)");
    if (dynamic_shared_bytes > 227 * 1024) return fail("dynamic shared memory over 227 KiB");
    Block b;
    b.body = body;
    b.body_ctx = ctx;
    b.fibers.resize(threads);
    b.dynamic_shared.resize(dynamic_shared_bytes);
    Block* outer = t_block;
    for (unsigned bz = 0; bz < grid[2]; bz++)
        for (unsigned by = 0; by < grid[1]; by++)
            for (unsigned bx = 0; bx < grid[0]; bx++) {
                poison_shared();
                if (!b.dynamic_shared.empty()) std::memset(b.dynamic_shared.data(), 0xff, b.dynamic_shared.size());
                for (size_t i = 0; i < threads; i++) prepare(b.fibers[i], i, dim3(bx, by, bz), block, grid);
                t_block = &b;
                bool ok = run_block(b, reverse != 0);
                t_block = outer;
                if (!ok) return fail(b.error);
            }
    return 0;
}
