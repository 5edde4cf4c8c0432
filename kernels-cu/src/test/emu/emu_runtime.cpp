// emu_runtime.cpp — the kernel emulator's scheduler: a block's threads as fibers on the host,
// switched at the block's and the warps' synchronisation points; the warp-wide shuffle and mma
// exchanges; the checks that refuse what is undefined on a GPU. See emu.h for the model.
//
// x86-64 System V only (the fiber switch below saves its callee-saved registers).
#include "emu.h"

#include <sys/mman.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>

// The library's .bss, which holds every __shared__ variable of its kernels (emu.h) and nothing of the
// runtime's: its state is in section dbc_emu_state (STATE below). The linker defines the bounds.
extern "C" char __bss_start[] __attribute__((visibility("hidden")));
extern "C" char _end[] __attribute__((visibility("hidden")));
#define STATE __attribute__((section("dbc_emu_state")))

namespace emu {

STATE Dim3 thread_idx, block_idx, block_dim, grid_dim;

namespace {

constexpr int MAX_THREADS = 1024;
constexpr int WARP = 32;
constexpr std::size_t STACK_BYTES = 256 << 10;  // per thread; a guard page at the bottom of each
constexpr std::size_t GUARD_BYTES = 4096;

enum class State { Running, AtBlockBarrier, AtWarpOp, Done, Faulted };

struct Fiber {
    void* sp;
    Dim3 idx;
    int lane, warp;
    State state;
    int line;      // the call site of the barrier or warp op it waits at
    uint64_t ops;  // warp ops done: selects the exchange buffer, so one meeting per op suffices
};

// A warp's exchange buffers, two of each (op n uses n % 2): a lane reads op n's buffer after the
// meeting of op n and before it reaches op n + 1's, so op n + 2 may overwrite it.
struct Warp {
    uint64_t value[2][WARP];
    uint32_t mma[2][WARP][6];  // a[4], b[2]
    float A[2][16][16], B[2][16][8];  // an mma's operands, rebuilt by the first lane to read them
    uint64_t built[2];                // 1 + the op whose operands A and B hold (0: none this block)
    int size;                         // threads of the block in this warp (the last may be partial)
};

STATE Fiber fibers[MAX_THREADS];
STATE Warp warps[MAX_THREADS / WARP];
STATE char* stacks;
STATE void* scheduler_sp;
STATE Fiber* current;
STATE Body body;
STATE void** body_params;
STATE char fault_text[400];

STATE std::mutex launch_lock;

}  // namespace
}  // namespace emu

// dbc_emu_switch(save, to): saves the callee-saved registers on the current stack, stores the
// stack pointer in *save, continues on stack `to` (as a previous switch or start_fiber left it).
extern "C" void dbc_emu_switch(void** save, void* to);
asm(R"(
    .text
    .globl dbc_emu_switch
    .hidden dbc_emu_switch
    .type dbc_emu_switch, @function
dbc_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size dbc_emu_switch, .-dbc_emu_switch
)");

namespace emu {
namespace {

// Back to the scheduler; returns when the scheduler resumes this fiber.
void suspend(State state, int line) {
    Fiber* f = current;
    f->state = state;
    f->line = line;
    dbc_emu_switch(&f->sp, scheduler_sp);
}

[[noreturn]] void fiber_main() {
    body(body_params);
    current->state = State::Done;
    dbc_emu_switch(&current->sp, scheduler_sp);
    __builtin_trap();  // a finished fiber is never resumed
}

// A fresh fiber on stack i: the first switch to it "returns" into fiber_main with the stack
// aligned as at a function's entry (rsp + 8 a multiple of 16).
void start_fiber(Fiber& f, int i) {
    void** sp = reinterpret_cast<void**>(stacks + (std::size_t)(i + 1) * STACK_BYTES);
    *--sp = nullptr;                                   // fiber_main's return address: none
    *--sp = reinterpret_cast<void*>(&fiber_main);      // where dbc_emu_switch's ret goes
    for (int r = 0; r < 6; r++) *--sp = nullptr;       // rbp rbx r12 r13 r14 r15
    f.sp = sp;
}

bool map_stacks(char* error, int error_size) {
    if (stacks) return true;
    void* p = mmap(nullptr, STACK_BYTES * MAX_THREADS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        std::snprintf(error, error_size, "kernel emulator: cannot map %zu MiB of fiber stacks",
                      STACK_BYTES * MAX_THREADS >> 20);
        return false;
    }
    for (int i = 0; i < MAX_THREADS; i++) mprotect(static_cast<char*>(p) + i * STACK_BYTES, GUARD_BYTES, PROT_NONE);
    stacks = static_cast<char*>(p);
    return true;
}

float half_bits_to_float(uint32_t bits, bool bf16) {
    if (bf16) {
        uint32_t u = bits << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    }
    __half_raw raw;
    raw.x = (unsigned short)bits;
    return __half2float(__half(raw));
}

}  // namespace

void fault(int line, const char* fmt, ...) {
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const Fiber* f = current;
    std::snprintf(fault_text, sizeof fault_text, "thread (%u, %u, %u), line %d: %s", f->idx.x, f->idx.y, f->idx.z, line,
                  what);
    current->state = State::Faulted;
    dbc_emu_switch(&current->sp, scheduler_sp);
    __builtin_trap();
}

void syncthreads(int line) { suspend(State::AtBlockBarrier, line); }

void syncwarp(int line) {
    suspend(State::AtWarpOp, line);
    current->ops++;
}

uint64_t exchange(unsigned mask, uint64_t bits, int src, bool by_xor, int line) {
    if (mask != 0xffffffffu) fault(line, "shuffle with mask 0x%08x: only full-warp shuffles are emulated", mask);
    Fiber* f = current;
    Warp& w = warps[f->warp];
    const int buf = f->ops & 1;
    w.value[buf][f->lane] = bits;
    suspend(State::AtWarpOp, line);
    f->ops++;
    const int from = by_xor ? (f->lane ^ src) & (WARP - 1) : src & (WARP - 1);  // width 32: src mod 32
    return w.value[buf][from];
}

// The m16n8k16 fragment layouts of the PTX ISA ("Matrix Fragments for mma.m16n8k16 with floating
// point type"), with groupID = lane / 4 and threadID_in_group = lane % 4; a 32-bit register holds
// two 16-bit elements, the lower-numbered in its low half:
//   A (16 x 16, row): element i (0..7) of a lane at row groupID + 8·((i / 2) % 2),
//                     column 2·threadID_in_group + i % 2 + 8·(i / 4);
//   B (16 x 8, col):  element i (0..3) at row 2·threadID_in_group + i % 2 + 8·(i / 2), column groupID;
//   C, D (16 x 8):    element i (0..3) at row groupID + 8·(i / 2), column 2·threadID_in_group + i % 2.
void mma_16816(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], bool bf16, int line) {
    Fiber* f = current;
    Warp& w = warps[f->warp];
    const int buf = f->ops & 1;
    uint32_t* mine = w.mma[buf][f->lane];
    for (int r = 0; r < 4; r++) mine[r] = a[r];
    for (int r = 0; r < 2; r++) mine[4 + r] = b[r];
    suspend(State::AtWarpOp, line);
    const uint64_t op = ++f->ops;  // the same for every lane of this op

    float(&A)[16][16] = w.A[buf];
    float(&B)[16][8] = w.B[buf];
    if (w.built[buf] != op) {  // the first lane to get here rebuilds the operands for all 32
        for (int lane = 0; lane < WARP; lane++) {
            const int g = lane / 4, t = lane % 4;
            const uint32_t* regs = w.mma[buf][lane];
            for (int i = 0; i < 8; i++) {
                const uint32_t bits = (regs[i / 2] >> (16 * (i % 2))) & 0xffffu;
                A[g + 8 * ((i / 2) % 2)][2 * t + i % 2 + 8 * (i / 4)] = half_bits_to_float(bits, bf16);
            }
            for (int i = 0; i < 4; i++) {
                const uint32_t bits = (regs[4 + i / 2] >> (16 * (i % 2))) & 0xffffu;
                B[2 * t + i % 2 + 8 * (i / 2)][g] = half_bits_to_float(bits, bf16);
            }
        }
        w.built[buf] = op;
    }
    const int g = f->lane / 4, t = f->lane % 4;
    for (int i = 0; i < 4; i++) {
        const int row = g + 8 * (i / 2), col = 2 * t + i % 2;
        double s = d[i];
        for (int k = 0; k < 16; k++) s += (double)A[row][k] * (double)B[k][col];
        d[i] = (float)s;
    }
}

void check_aligned(const void* p, unsigned bytes, int line) {
    if (reinterpret_cast<uintptr_t>(p) % bytes != 0) {
        fault(line, "misaligned %u-byte access at %p (a GPU faults: misaligned address)", bytes, p);
    }
}

namespace {

// The threads of a block run between two synchronisation points in an order drawn afresh each
// time (a seeded xorshift, so a run repeats): a kernel that reads what another thread wrote
// without a barrier between them then reads stale or poisoned data in some passes, and its
// results differ from the reference, as they would on a GPU, where warps run in no fixed order.
// DBC_EMU_SEED=N (read at the first launch) draws other orders: sweeping it is a search for races.
STATE int order[MAX_THREADS];
STATE uint64_t order_state = 0x9E3779B97F4A7C15ull;
STATE bool order_seeded = false;

void seed_order() {
    if (order_seeded) return;
    order_seeded = true;
    const char* seed = std::getenv("DBC_EMU_SEED");
    if (seed && *seed) {
        const uint64_t n = std::strtoull(seed, nullptr, 10);
        order_state = (n + 1) * 0x9E3779B97F4A7C15ull;  // never 0: xorshift would stay at 0
        if (order_state == 0) order_state = 0x9E3779B97F4A7C15ull;
    }
}

void shuffle_order(int n) {
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        order_state ^= order_state << 13;
        order_state ^= order_state >> 7;
        order_state ^= order_state << 17;
        const int j = (int)(order_state % (uint64_t)(i + 1));
        const int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

// After every fiber of the block has stopped: lets waiting warps and, when every live thread has
// reached it, the block barrier go on. Returns false with the reason in error when nothing can.
bool release(int n, char* error, int error_size, bool* all_done) {
    bool released = false;
    for (int w = 0; w * WARP < n; w++) {
        Fiber* lanes = fibers + w * WARP;
        const int size = warps[w].size;
        int waiting = 0, first = -1;
        for (int l = 0; l < size; l++) {
            if (lanes[l].state == State::AtWarpOp) {
                waiting++;
                if (first < 0) first = l;
            }
        }
        if (waiting == 0) continue;
        const int line = lanes[first].line;
        if (size < WARP) {
            std::snprintf(error, error_size,
                          "warp %d has %d threads (the block's last warp is partial) and its lanes meet at a full-warp "
                          "op at line %d: undefined on a GPU",
                          w, size, line);
            return false;
        }
        for (int l = 0; l < WARP; l++) {
            const Fiber& f = lanes[l];
            if (f.state == State::AtWarpOp && f.line == line) continue;
            if (f.state == State::Done) {
                std::snprintf(error, error_size,
                              "thread (%u, %u, %u) exited, and the other lanes of its warp meet at the full-warp op at "
                              "line %d without it: undefined on a GPU",
                              f.idx.x, f.idx.y, f.idx.z, line);
            } else if (f.state == State::AtBlockBarrier) {
                std::snprintf(error, error_size,
                              "divergent warp: thread (%u, %u, %u) waits at __syncthreads (line %d) while lanes of its "
                              "warp wait at the warp op at line %d",
                              f.idx.x, f.idx.y, f.idx.z, f.line, line);
            } else {
                std::snprintf(error, error_size,
                              "divergent warp: thread (%u, %u, %u) waits at the warp op at line %d, other lanes at line %d",
                              f.idx.x, f.idx.y, f.idx.z, f.line, line);
            }
            return false;
        }
        for (int l = 0; l < WARP; l++) lanes[l].state = State::Running;
        released = true;
    }
    if (released) return true;

    int done = 0, line = -1;
    for (int i = 0; i < n; i++) {
        const Fiber& f = fibers[i];
        if (f.state == State::Done) {
            done++;
        } else if (line < 0) {
            line = f.line;
        } else if (f.line != line) {
            std::snprintf(error, error_size,
                          "divergent __syncthreads: thread (%u, %u, %u) waits at line %d, others at line %d", f.idx.x,
                          f.idx.y, f.idx.z, f.line, line);
            return false;
        }
    }
    if (done == n) {
        *all_done = true;
        return true;
    }
    // Threads that exited count as arrived (as on sm_70 and newer).
    for (int i = 0; i < n; i++) {
        if (fibers[i].state == State::AtBlockBarrier) fibers[i].state = State::Running;
    }
    return true;
}

}  // namespace

int run(const char* name, Body kernel, const Geometry& g, void** params, char* error, int error_size) {
    std::lock_guard<std::mutex> hold(launch_lock);
    const long n = (long)g.block[0] * g.block[1] * g.block[2];
    if (n <= 0 || n > MAX_THREADS) {
        std::snprintf(error, error_size, "%s: %ld threads per block", name, n);
        return -1;
    }
    if (!map_stacks(error, error_size)) return -1;
    seed_order();
    grid_dim = {g.grid[0], g.grid[1], g.grid[2]};
    block_dim = {g.block[0], g.block[1], g.block[2]};
    body = kernel;
    body_params = params;
    for (int w = 0; w * WARP < n; w++) warps[w].size = (int)std::min<long>(WARP, n - w * WARP);

    char why[400];
    for (unsigned bz = 0; bz < g.grid[2]; bz++) {
        for (unsigned by = 0; by < g.grid[1]; by++) {
            for (unsigned bx = 0; bx < g.grid[0]; bx++) {
                block_idx = {bx, by, bz};
                std::memset(__bss_start, 0xFF, _end - __bss_start);  // shared memory: undefined
                for (int w = 0; w * WARP < n; w++) warps[w].built[0] = warps[w].built[1] = 0;
                for (int i = 0; i < n; i++) {
                    Fiber& f = fibers[i];
                    f.idx = {(unsigned)(i % g.block[0]), (unsigned)(i / g.block[0] % g.block[1]),
                             (unsigned)(i / (g.block[0] * g.block[1]))};
                    f.lane = i % WARP;
                    f.warp = i / WARP;
                    f.state = State::Running;
                    f.line = 0;
                    f.ops = 0;
                    start_fiber(f, i);
                }
                for (bool all_done = false; !all_done;) {
                    shuffle_order((int)n);
                    for (int k = 0; k < n; k++) {
                        Fiber& f = fibers[order[k]];
                        if (f.state != State::Running) continue;
                        current = &f;
                        thread_idx = f.idx;
                        dbc_emu_switch(&scheduler_sp, f.sp);
                        if (f.state == State::Faulted) {
                            std::snprintf(error, error_size, "%s: block (%u, %u, %u), %s", name, bx, by, bz, fault_text);
                            return -1;
                        }
                    }
                    current = nullptr;
                    if (!release((int)n, why, sizeof why, &all_done)) {
                        std::snprintf(error, error_size, "%s: block (%u, %u, %u): %s", name, bx, by, bz, why);
                        return -1;
                    }
                }
            }
        }
    }
    return 0;
}

}  // namespace emu
