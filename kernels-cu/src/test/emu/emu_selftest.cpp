// emu_selftest.cpp — the kernel emulator on kernels written to test it: the thread and block
// coordinates of a 3-D launch, shared memory across a barrier, the shuffles (xor and broadcast),
// and each refusal (a partial mask, a lane that exited before a full-warp op, a partial warp,
// divergent barriers, a misaligned vector access), and the random thread order exposing a race.
// Built with emu.h force-included, as the kernel families are (CMake target check-emulator);
// prints one line per check and exits non-zero when one fails.
#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr unsigned FULL = 0xffffffffu;

float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL, v, o);
    return v;
}

}  // namespace

// out[linear thread of the grid] = its coordinates packed in decimal digits.
extern "C" void coordinates(int* out) {
    const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
    const unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    const unsigned t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    out[block * threads + t] = (int)(blockIdx.x * 100000 + blockIdx.y * 10000 + blockIdx.z * 1000 + threadIdx.x * 100 +
                                     threadIdx.y * 10 + threadIdx.z);
}

// 128 threads: each writes in[t] to shared memory; after a barrier, thread t reads its neighbour's
// value, the warps sum theirs with the butterfly, and lane 5's value is broadcast.
extern "C" void shared_and_shuffles(float* neighbour, float* sums, float* broadcast, const float* in) {
    __shared__ float s[128];
    const int t = threadIdx.x;
    s[t] = in[t];
    __syncthreads();
    neighbour[t] = s[(t + 1) % 128];
    const float total = warp_sum(in[t]);
    if (t % 32 == 0) sums[t / 32] = total;
    broadcast[t] = __shfl_sync(FULL, in[t], 5);
}

// The same without the barrier: thread t reads what thread t + 1 wrote, in whatever order they ran.
extern "C" void racy_neighbour(float* neighbour, const float* in) {
    __shared__ float s[128];
    const int t = threadIdx.x;
    s[t] = in[t];
    neighbour[t] = s[(t + 1) % 128];
}

extern "C" void partial_mask(float* out) { out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, 1.0f, 1); }

extern "C" void lane_exits_before_shuffle(float* out) {
    if (threadIdx.x % 32 >= 16) return;
    out[threadIdx.x] = warp_sum(1.0f);
}

extern "C" void shuffle_in_partial_warp(float* out) { out[threadIdx.x] = warp_sum(1.0f); }

extern "C" void divergent_syncthreads(float* out) {
    if (threadIdx.x < 64) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1.0f;
}

extern "C" void barrier_against_shuffle(float* out) {
    if (threadIdx.x % 32 < 16) {
        __syncthreads();
        out[threadIdx.x] = 0.0f;
    } else {
        out[threadIdx.x] = warp_sum(1.0f);
    }
}

extern "C" void misaligned_vector(float* out) {
    DBC_EMU_ALIGNED(reinterpret_cast<const char*>(out) + 4 * (threadIdx.x == 7), 16);
    out[threadIdx.x] = 1.0f;
}

// Threads that return before a barrier count as arrived (as on sm_70 and newer).
extern "C" void early_exit_then_barrier(float* out) {
    if (threadIdx.x >= 64) return;
    __syncthreads();
    out[threadIdx.x] = 2.0f;
}

// Reads its shared slot before any thread wrote it: undefined on a GPU, NaN here.
extern "C" void shared_read_before_write(float* out) {
    __shared__ float s[32];
    out[threadIdx.x] = s[threadIdx.x];
    s[threadIdx.x] = 1.0f;
}

EMU_KERNEL(shared_read_before_write)
EMU_KERNEL(coordinates)
EMU_KERNEL(shared_and_shuffles)
EMU_KERNEL(racy_neighbour)
EMU_KERNEL(partial_mask)
EMU_KERNEL(lane_exits_before_shuffle)
EMU_KERNEL(shuffle_in_partial_warp)
EMU_KERNEL(divergent_syncthreads)
EMU_KERNEL(barrier_against_shuffle)
EMU_KERNEL(misaligned_vector)
EMU_KERNEL(early_exit_then_barrier)

namespace {

// Out of .bss: the scheduler fills a program's .bss, where the __shared__ variables are, with NaN
// bytes before each block.
__attribute__((section("dbc_emu_state"))) int failures = 0;

void check(bool ok, const std::string& what) {
    std::printf("%-72s %s\n", what.c_str(), ok ? "ok" : "FAILED");
    if (!ok) failures++;
}

emu::Geometry geometry(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz) {
    return emu::Geometry{{gx, gy, gz}, {bx, by, bz}, 0};
}

// Runs fn with one pointer parameter; returns the emulator's error ("" on success).
template <typename Fn, typename P>
std::string launch(Fn fn, const emu::Geometry& g, P* p) {
    char error[600] = "";
    void* params[] = {&p};
    return fn(&g, params, error, sizeof error) == 0 ? std::string() : std::string(error);
}

void refused(const char* name, int (*fn)(const emu::Geometry*, void**, char*, int), unsigned threads,
             const char* expected) {
    std::vector<float> out(threads, -1.0f);
    std::string error = launch(fn, geometry(1, 1, 1, threads, 1, 1), out.data());
    check(error.find(expected) != std::string::npos,
          std::string(name) + " refused: \"" + expected + "\"" + (error.empty() ? " (ran)" : ""));
    if (error.find(expected) == std::string::npos) std::printf("    got: %s\n", error.c_str());
}

}  // namespace

int main() {
    {
        const unsigned gx = 3, gy = 2, gz = 2, bx = 4, by = 3, bz = 2;
        std::vector<int> out(gx * gy * gz * bx * by * bz, -1);
        std::string error = launch(emu_run_coordinates, geometry(gx, gy, gz, bx, by, bz), out.data());
        bool ok = error.empty();
        int i = 0;
        for (unsigned z = 0; z < gz; z++)
            for (unsigned y = 0; y < gy; y++)
                for (unsigned x = 0; x < gx; x++)
                    for (unsigned tz = 0; tz < bz; tz++)
                        for (unsigned ty = 0; ty < by; ty++)
                            for (unsigned tx = 0; tx < bx; tx++)
                                ok &= out[i++] == (int)(x * 100000 + y * 10000 + z * 1000 + tx * 100 + ty * 10 + tz);
        check(ok, "coordinates of every thread of a 3x2x2 grid of 4x3x2 blocks");
    }
    {
        std::vector<float> in(128), neighbour(128, -1), sums(4, -1), broadcast(128, -1);
        for (int t = 0; t < 128; t++) in[t] = (float)(t * t % 97);
        char error[600] = "";
        float *n = neighbour.data(), *s = sums.data(), *b = broadcast.data();
        const float* i = in.data();
        void* params[] = {&n, &s, &b, &i};
        emu::Geometry g = geometry(1, 1, 1, 128, 1, 1);
        check(emu_run_shared_and_shuffles(&g, params, error, sizeof error) == 0, "shared_and_shuffles runs");
        bool ok = true;
        for (int t = 0; t < 128; t++) ok &= neighbour[t] == in[(t + 1) % 128];
        check(ok, "shared memory written before a barrier is read after it");
        ok = true;
        for (int w = 0; w < 4; w++) {
            float want = 0;
            for (int l = 0; l < 32; l++) want += in[32 * w + l];
            ok &= sums[w] == want;  // small integers: exact in any order
        }
        check(ok, "warp_sum (shfl_xor butterfly) in every warp");
        ok = true;
        for (int t = 0; t < 128; t++) ok &= broadcast[t] == in[32 * (t / 32) + 5];
        check(ok, "__shfl_sync broadcasts lane 5 of each warp");
    }
    {
        // Without the barrier some thread reads its neighbour's slot before the neighbour wrote it,
        // and gets the previous launch's value, somewhere in 8 launches.
        std::vector<float> in(128), neighbour(128);
        for (int t = 0; t < 128; t++) in[t] = (float)t;
        int wrong = 0;
        for (int run = 0; run < 8; run++) {
            for (int t = 0; t < 128; t++) in[t] = (float)(run * 1000 + t);
            char error[600] = "";
            float* n = neighbour.data();
            const float* i = in.data();
            void* params[] = {&n, &i};
            emu::Geometry g = geometry(1, 1, 1, 128, 1, 1);
            emu_run_racy_neighbour(&g, params, error, sizeof error);
            for (int t = 0; t < 128; t++) wrong += neighbour[t] != in[(t + 1) % 128];
        }
        check(wrong > 0, "a read of another thread's write without a barrier goes wrong (" + std::to_string(wrong) +
                             " of 1024 reads)");
    }
    {
        std::vector<float> out(32, 0.0f);
        bool ok = true;
        for (int run = 0; run < 2; run++) {  // the second launch too: nothing is left from the first
            ok &= launch(emu_run_shared_read_before_write, geometry(1, 1, 1, 32, 1, 1), out.data()).empty();
            for (float v : out) ok &= v != v;
        }
        check(ok, "shared memory holds NaN at the start of every block");
    }
    refused("partial_mask", emu_run_partial_mask, 32, "mask 0x0000ffff");
    refused("lane_exits_before_shuffle", emu_run_lane_exits_before_shuffle, 64, "exited, and the other lanes");
    refused("shuffle_in_partial_warp", emu_run_shuffle_in_partial_warp, 48, "has 16 threads (the block's last warp is partial)");
    refused("divergent_syncthreads", emu_run_divergent_syncthreads, 128, "divergent __syncthreads");
    refused("barrier_against_shuffle", emu_run_barrier_against_shuffle, 64, "divergent warp");
    refused("misaligned_vector", emu_run_misaligned_vector, 32, "misaligned 16-byte access");
    {
        std::vector<float> out(128, -1.0f);
        std::string error = launch(emu_run_early_exit_then_barrier, geometry(1, 1, 1, 128, 1, 1), out.data());
        bool ok = error.empty();
        for (int t = 0; t < 128; t++) ok &= out[t] == (t < 64 ? 2.0f : -1.0f);
        check(ok, "threads that returned count as arrived at a later __syncthreads");
    }
    std::printf("%s\n", failures ? "kernel emulator self-test FAILED" : "kernel emulator self-test passed");
    return failures ? 1 : 0;
}
