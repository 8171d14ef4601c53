/*
 * Physical IPC limits of the host, used as the yardstick for the managed
 * transports. Every IPC figure uses two processes (fork), never threads,
 * because the transports under test cross a process boundary and threads
 * would share an address space, TLB and scheduler bookkeeping they cannot.
 *
 * stdout carries only result lines:
 *   peer=<name> workload=<W1|W2|W3> value=<number> unit=<unit> note=<note>
 * Diagnostics go to stderr so a parser of stdout never sees them.
 *
 * Usage: baseline [test ...]   (no arguments runs everything)
 *   tests: uds-w1 uds-w2 uds-w3 shm-spin shm-futex memcpy kill-eof
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOTE_BASE "C,gcc-O2,unpinned"

#define MSG_SIZE 64
#define W1_WARMUP 10000
#define W1_TIMED 100000

#define W2_DEPTH 64
#define W2_WARMUP_NS (1ull * 1000000000ull)
#define W2_TIMED_NS (5ull * 1000000000ull)

#define W3_MSG_SIZE (1u << 20)
/* A few untimed transfers so page faults on the buffers and socket
 * buffer growth are not billed to the timed run. */
#define W3_WARMUP 20
#define W3_TIMED 2000

#define MEMCPY_CHUNK (1u << 20)
#define MEMCPY_REGION (256u << 20)
#define MEMCPY_RUN_NS (1500ull * 1000000ull)
#define MEMCPY_MAX_ITERS 1000000ull

/* Ceiling on any single measurement, so a stalled peer or a badly
 * overloaded host cannot hold the whole run hostage. Results are still
 * printed from what was collected, with the note saying so. */
#define PHASE_LIMIT_NS (20ull * 1000000000ull)
/* Hard stop for forked peers, in case they never see EOF or a stop flag. */
#define CHILD_ALARM_S 60

#define CACHE_LINE 64

static void die(const char *what)
{
    fprintf(stderr, "baseline: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *what)
{
    fprintf(stderr, "baseline: %s\n", what);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die("clock_gettime");
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Returns bytes read; less than len only at EOF. EOF before the first byte
 * is a clean end of stream; EOF after it means a torn message. */
static size_t read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("read");
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got != 0 && got != len)
        fail("short read: peer closed mid-message");
    return got;
}

static void print_result(const char *peer, const char *workload, double value,
                         const char *unit, const char *note)
{
    const char *fmt;
    if (strncmp(unit, "us_", 3) == 0)
        fmt = "peer=%s workload=%s value=%.3f unit=%s note=%s\n";
    else if (strcmp(unit, "calls_per_s") == 0)
        fmt = "peer=%s workload=%s value=%.0f unit=%s note=%s\n";
    else
        fmt = "peer=%s workload=%s value=%.1f unit=%s note=%s\n";
    printf(fmt, peer, workload, value, unit, note);
    /* Flushed per line so a later crash still leaves earlier figures. */
    fflush(stdout);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile: an actual observed sample, no interpolation,
 * so p99.9 of 100k samples is the 99,900th smallest. */
static double percentile_us(const uint64_t *sorted, size_t n, unsigned per_mille)
{
    size_t rank = (n * per_mille + 999) / 1000;
    if (rank == 0)
        rank = 1;
    return (double)sorted[rank - 1] / 1000.0;
}

static void report_latency(const char *peer, uint64_t *lat, size_t n,
                           const char *note_extra)
{
    char note[128];
    if (n == 0)
        fail("no latency samples collected");
    qsort(lat, n, sizeof lat[0], cmp_u64);
    if (n < W1_TIMED)
        snprintf(note, sizeof note, "%s,%s,truncated-n=%zu", NOTE_BASE, note_extra, n);
    else
        snprintf(note, sizeof note, "%s,%s", NOTE_BASE, note_extra);
    print_result(peer, "W1", percentile_us(lat, n, 500), "us_p50", note);
    print_result(peer, "W1", percentile_us(lat, n, 990), "us_p99", note);
    print_result(peer, "W1", percentile_us(lat, n, 999), "us_p999", note);
}

/* ---------- process plumbing ---------- */

static pid_t spawn(void (*child_fn)(void *), void *arg, int close_in_child)
{
    pid_t parent = getpid();
    /* Unflushed stdio would otherwise be duplicated by the child. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        /* A peer that outlives its client would spin or block forever. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            die("prctl");
        if (getppid() != parent)
            _exit(1);
        alarm(CHILD_ALARM_S);
        if (close_in_child >= 0 && close(close_in_child) != 0)
            die("close");
        child_fn(arg);
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid, const char *what)
{
    int status;
    for (;;) {
        if (waitpid(pid, &status, 0) >= 0)
            break;
        if (errno != EINTR)
            die("waitpid");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "baseline: %s peer failed (status 0x%x)\n", what, status);
        exit(1);
    }
}

static void make_socketpair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair");
}

static void stamp(unsigned char *msg, uint64_t seq)
{
    memset(msg, (int)(seq & 0xff), MSG_SIZE);
    memcpy(msg, &seq, sizeof seq);
}

static uint64_t stamp_of(const unsigned char *msg)
{
    uint64_t seq;
    memcpy(&seq, msg, sizeof seq);
    return seq;
}

/* ---------- c-uds W1: 64-byte ping-pong ---------- */

static void uds_echo_server(void *arg)
{
    int fd = *(int *)arg;
    unsigned char buf[MSG_SIZE];
    while (read_all(fd, buf, MSG_SIZE) == MSG_SIZE)
        write_all(fd, buf, MSG_SIZE);
    if (close(fd) != 0)
        die("close");
}

static void run_uds_w1(void)
{
    int sv[2];
    make_socketpair(sv);
    pid_t pid = spawn(uds_echo_server, &sv[1], sv[0]);
    if (close(sv[1]) != 0)
        die("close");
    int fd = sv[0];

    uint64_t *lat = malloc(W1_TIMED * sizeof *lat);
    if (!lat)
        fail("out of memory");
    unsigned char out[MSG_SIZE], in[MSG_SIZE];
    size_t n = 0;
    uint64_t deadline = now_ns() + PHASE_LIMIT_NS;
    for (uint64_t i = 0; i < W1_WARMUP + W1_TIMED; i++) {
        stamp(out, i);
        uint64_t t0 = now_ns();
        write_all(fd, out, MSG_SIZE);
        if (read_all(fd, in, MSG_SIZE) != MSG_SIZE)
            fail("uds-w1: server closed early");
        uint64_t t1 = now_ns();
        if (stamp_of(in) != i)
            fail("uds-w1: echo mismatch");
        if (i >= W1_WARMUP)
            lat[n++] = t1 - t0;
        if (t1 > deadline)
            break;
    }
    if (shutdown(fd, SHUT_WR) != 0)
        die("shutdown");
    reap(pid, "uds-w1");
    if (close(fd) != 0)
        die("close");
    report_latency("c-uds", lat, n, "socketpair,64B");
    free(lat);
}

/* ---------- c-uds W2: 64 calls in flight ---------- */

/* Echoes whole messages only, carrying any partial tail to the next read,
 * so the server never splits a call even though the stream may. Reading
 * whatever is available (rather than one message per read) is what a
 * competent transport does under load, and that coalescing is the point of
 * having many calls in flight. */
static void uds_batch_echo_server(void *arg)
{
    int fd = *(int *)arg;
    unsigned char buf[W2_DEPTH * MSG_SIZE * 2];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("read");
        }
        if (r == 0)
            break;
        have += (size_t)r;
        size_t whole = have - have % MSG_SIZE;
        write_all(fd, buf, whole);
        memmove(buf, buf + whole, have - whole);
        have -= whole;
    }
    if (have != 0)
        fail("uds-w2: server saw a torn message at EOF");
    if (close(fd) != 0)
        die("close");
}

static void run_uds_w2(void)
{
    int sv[2];
    make_socketpair(sv);
    pid_t pid = spawn(uds_batch_echo_server, &sv[1], sv[0]);
    if (close(sv[1]) != 0)
        die("close");
    int fd = sv[0];

    unsigned char out[W2_DEPTH * MSG_SIZE];
    unsigned char in[W2_DEPTH * MSG_SIZE * 2];
    uint64_t sent = 0, received = 0;
    size_t have = 0;

    /* 64 x 64 B outstanding each way fits easily in default socket buffers,
     * so a blocking write here can never deadlock against the echo. */
    for (unsigned k = 0; k < W2_DEPTH; k++)
        stamp(out + k * MSG_SIZE, sent++);
    write_all(fd, out, W2_DEPTH * MSG_SIZE);

    uint64_t t_begin = now_ns();
    uint64_t warm_end = t_begin + W2_WARMUP_NS;
    uint64_t timed_end = warm_end + W2_TIMED_NS;
    uint64_t t_start = 0, t_stop = 0, count_start = 0, count_stop = 0;
    int phase = 0; /* 0 warm-up, 1 timed, 2 draining */

    while (phase < 2 || received < sent) {
        ssize_t r = read(fd, in + have, sizeof in - have);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("read");
        }
        if (r == 0)
            fail("uds-w2: server closed early");
        have += (size_t)r;
        size_t whole = have / MSG_SIZE;
        for (size_t k = 0; k < whole; k++) {
            if (stamp_of(in + k * MSG_SIZE) != received)
                fail("uds-w2: echo out of order");
            received++;
        }
        memmove(in, in + whole * MSG_SIZE, have - whole * MSG_SIZE);
        have -= whole * MSG_SIZE;

        uint64_t t = now_ns();
        if (phase == 0 && t >= warm_end) {
            phase = 1;
            t_start = t;
            count_start = received;
        } else if (phase == 1 && t >= timed_end) {
            phase = 2;
            t_stop = t;
            count_stop = received;
        }
        if (phase < 2 && whole > 0) {
            /* Refill exactly what completed, keeping the window at 64. */
            for (size_t k = 0; k < whole; k++)
                stamp(out + k * MSG_SIZE, sent++);
            write_all(fd, out, whole * MSG_SIZE);
        }
    }
    if (shutdown(fd, SHUT_WR) != 0)
        die("shutdown");
    reap(pid, "uds-w2");
    if (close(fd) != 0)
        die("close");

    double secs = (double)(t_stop - t_start) / 1e9;
    print_result("c-uds", "W2", (double)(count_stop - count_start) / secs,
                 "calls_per_s", NOTE_BASE ",socketpair,depth64,64B,coalesced-io");
}

/* ---------- c-uds W3: 1 MiB bulk with per-message ack ---------- */

static void uds_bulk_server(void *arg)
{
    int fd = *(int *)arg;
    unsigned char *buf = malloc(W3_MSG_SIZE);
    if (!buf)
        fail("out of memory");
    for (;;) {
        uint32_t len;
        if (read_all(fd, &len, sizeof len) == 0)
            break;
        if (len != W3_MSG_SIZE)
            fail("uds-w3: unexpected length prefix");
        if (read_all(fd, buf, len) != len)
            fail("uds-w3: client closed mid-payload");
        /* Echoing the edge bytes lets the client detect misframing without
         * paying for a full checksum inside the timed loop. */
        uint32_t ack = (uint32_t)buf[0] | (uint32_t)buf[len - 1] << 8;
        write_all(fd, &ack, sizeof ack);
    }
    free(buf);
    if (close(fd) != 0)
        die("close");
}

static void run_uds_w3(void)
{
    int sv[2];
    make_socketpair(sv);
    pid_t pid = spawn(uds_bulk_server, &sv[1], sv[0]);
    if (close(sv[1]) != 0)
        die("close");
    int fd = sv[0];

    /* Prefix and payload in one buffer so each message is one write call. */
    unsigned char *msg = malloc(sizeof(uint32_t) + W3_MSG_SIZE);
    if (!msg)
        fail("out of memory");
    uint32_t len = W3_MSG_SIZE;
    memcpy(msg, &len, sizeof len);
    unsigned char *payload = msg + sizeof len;
    memset(payload, 0x5a, W3_MSG_SIZE);

    uint64_t t_start = 0, done = 0;
    uint64_t deadline = now_ns() + PHASE_LIMIT_NS;
    for (unsigned i = 0; i < W3_WARMUP + W3_TIMED; i++) {
        if (i == W3_WARMUP)
            t_start = now_ns();
        payload[0] = (unsigned char)i;
        payload[W3_MSG_SIZE - 1] = (unsigned char)(i >> 8);
        write_all(fd, msg, sizeof len + W3_MSG_SIZE);
        uint32_t ack;
        if (read_all(fd, &ack, sizeof ack) != sizeof ack)
            fail("uds-w3: server closed early");
        if (ack != ((uint32_t)(unsigned char)i | (uint32_t)(unsigned char)(i >> 8) << 8))
            fail("uds-w3: bad ack");
        if (i >= W3_WARMUP)
            done++;
        if (now_ns() > deadline)
            break;
    }
    uint64_t t_stop = now_ns();
    if (shutdown(fd, SHUT_WR) != 0)
        die("shutdown");
    reap(pid, "uds-w3");
    if (close(fd) != 0)
        die("close");
    free(msg);

    if (done == 0)
        fail("uds-w3: no timed transfers completed");
    char note[128];
    if (done < W3_TIMED)
        snprintf(note, sizeof note, "%s,socketpair,1MiB-msg,ack-each,truncated-n=%llu",
                 NOTE_BASE, (unsigned long long)done);
    else
        snprintf(note, sizeof note, "%s,socketpair,1MiB-msg,ack-each", NOTE_BASE);
    double secs = (double)(t_stop - t_start) / 1e9;
    print_result("c-uds", "W3", (double)done * W3_MSG_SIZE / 1e6 / secs, "MB_per_s", note);
}

/* ---------- shared-memory ping-pong (spin and futex) ---------- */

/* The sequence word and the payload sit on their own lines, and each
 * direction owns a separate pair, so neither side's writes invalidate a
 * line the other side is polling except the one it must. */
struct slot {
    _Alignas(2 * CACHE_LINE) _Atomic uint32_t seq;
    _Atomic uint32_t waiting;
    _Alignas(CACHE_LINE) unsigned char data[MSG_SIZE];
};

struct shm_channel {
    struct slot req;
    struct slot resp;
    _Alignas(CACHE_LINE) _Atomic uint32_t stop;
    int use_futex;
};

_Static_assert(sizeof(struct slot) == 2 * CACHE_LINE, "slot layout");

static long futex_call(_Atomic uint32_t *addr, int op, uint32_t val,
                       const struct timespec *timeout)
{
    return syscall(SYS_futex, (uint32_t *)addr, op, val, timeout, NULL, 0);
}

/* Returns 0 when seq reaches want, -1 if the phase limit passed first. */
static int spin_wait(struct slot *s, uint32_t want, uint64_t deadline)
{
    /* No PAUSE: on this KVM guest a PAUSE-heavy loop can trip pause-loop
     * exiting and hand the vCPU back to the host, which would measure the
     * hypervisor rather than the cache-coherence round trip. */
    for (uint32_t spins = 0;; spins++) {
        if (atomic_load_explicit(&s->seq, memory_order_acquire) == want)
            return 0;
        if ((spins & 0xffff) == 0xffff && now_ns() > deadline)
            return -1;
    }
}

static int futex_wait_for(struct slot *s, uint32_t want, uint64_t deadline)
{
    for (;;) {
        if (atomic_load_explicit(&s->seq, memory_order_acquire) == want)
            return 0;
        /* Announce, then re-check with seq_cst on both sides (Dekker
         * pattern): either the poster sees waiting=1 and wakes us, or we
         * see its new seq here. Acquire/release alone would allow both to
         * miss each other and lose the wakeup. */
        atomic_store_explicit(&s->waiting, 1, memory_order_seq_cst);
        uint32_t cur = atomic_load_explicit(&s->seq, memory_order_seq_cst);
        int timed_out = 0;
        if (cur != want) {
            /* Relative timeout only so a dead peer cannot park us forever. */
            struct timespec ts = {0, 100 * 1000 * 1000};
            if (futex_call(&s->seq, FUTEX_WAIT, cur, &ts) != 0) {
                if (errno == ETIMEDOUT)
                    timed_out = 1;
                else if (errno != EAGAIN && errno != EINTR)
                    die("futex wait");
            }
        }
        atomic_store_explicit(&s->waiting, 0, memory_order_relaxed);
        if (timed_out && now_ns() > deadline)
            return -1;
    }
}

static int shm_wait(const struct shm_channel *ch, struct slot *s, uint32_t want,
                    uint64_t deadline)
{
    return ch->use_futex ? futex_wait_for(s, want, deadline)
                         : spin_wait(s, want, deadline);
}

static void shm_post(const struct shm_channel *ch, struct slot *s, uint32_t val)
{
    if (!ch->use_futex) {
        atomic_store_explicit(&s->seq, val, memory_order_release);
        return;
    }
    atomic_store_explicit(&s->seq, val, memory_order_seq_cst);
    /* Skipping the syscall when nobody is parked is most of the reason a
     * futex handoff can approach the spinning one under load. */
    if (atomic_load_explicit(&s->waiting, memory_order_seq_cst) &&
        futex_call(&s->seq, FUTEX_WAKE, 1, NULL) < 0)
        die("futex wake");
}

static void shm_echo_server(void *arg)
{
    struct shm_channel *ch = arg;
    unsigned char buf[MSG_SIZE];
    uint64_t deadline = now_ns() + PHASE_LIMIT_NS + 5000000000ull;
    for (uint32_t i = 1;; i++) {
        if (shm_wait(ch, &ch->req, i, deadline) != 0)
            _exit(2);
        if (atomic_load_explicit(&ch->stop, memory_order_relaxed))
            break;
        memcpy(buf, ch->req.data, MSG_SIZE);
        memcpy(ch->resp.data, buf, MSG_SIZE);
        shm_post(ch, &ch->resp, i);
    }
}

static void run_shm(int use_futex)
{
    const char *peer = use_futex ? "c-shm-futex" : "c-shm-spin";
    /* Anonymous shared mapping set up before fork: both processes see the
     * same physical pages, and the futex key is shared (not private). */
    struct shm_channel *ch = mmap(NULL, sizeof *ch, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ch == MAP_FAILED)
        die("mmap");
    memset(ch, 0, sizeof *ch);
    ch->use_futex = use_futex;

    pid_t pid = spawn(shm_echo_server, ch, -1);

    uint64_t *lat = malloc(W1_TIMED * sizeof *lat);
    if (!lat)
        fail("out of memory");
    unsigned char out[MSG_SIZE], in[MSG_SIZE];
    size_t n = 0;
    uint64_t deadline = now_ns() + PHASE_LIMIT_NS;
    uint32_t i;
    for (i = 1; i <= W1_WARMUP + W1_TIMED; i++) {
        stamp(out, i);
        uint64_t t0 = now_ns();
        memcpy(ch->req.data, out, MSG_SIZE);
        shm_post(ch, &ch->req, i);
        /* The server has no way to resynchronise after a lost round
         * trip, so a stall is fatal; PDEATHSIG then reaps the peer. */
        if (shm_wait(ch, &ch->resp, i, deadline) != 0)
            fail("shm: peer stalled past the phase limit");
        memcpy(in, ch->resp.data, MSG_SIZE);
        uint64_t t1 = now_ns();
        if (stamp_of(in) != i)
            fail("shm: echo mismatch");
        if (i > W1_WARMUP)
            lat[n++] = t1 - t0;
        if (t1 > deadline) {
            i++;
            break;
        }
    }
    /* The stop flag rides on the next sequence number, so the release of
     * seq publishes it to the server's acquire. */
    atomic_store_explicit(&ch->stop, 1, memory_order_relaxed);
    shm_post(ch, &ch->req, i);
    reap(pid, peer);
    if (munmap(ch, sizeof *ch) != 0)
        die("munmap");
    report_latency(peer, lat, n, use_futex ? "mmap-shared,futex-park" : "mmap-shared,busy-spin");
    free(lat);
}

/* ---------- c-memcpy W3 ---------- */

static double memcpy_rate(const unsigned char *src, size_t region, unsigned char *dst)
{
    size_t chunks = region / MEMCPY_CHUNK;
    /* One untimed pass warms TLBs and, for the cached case, the caches. */
    for (size_t c = 0; c < chunks; c++) {
        memcpy(dst, src + c * MEMCPY_CHUNK, MEMCPY_CHUNK);
        __asm__ volatile("" : : "r"(dst) : "memory");
    }
    uint64_t t0 = now_ns(), t = t0;
    uint64_t iters = 0;
    size_t c = 0;
    while (iters < MEMCPY_MAX_ITERS && t - t0 < MEMCPY_RUN_NS) {
        memcpy(dst, src + c * MEMCPY_CHUNK, MEMCPY_CHUNK);
        /* The compiler must assume dst is observed, so no copy is elided. */
        __asm__ volatile("" : : "r"(dst) : "memory");
        if (++c == chunks)
            c = 0;
        iters++;
        t = now_ns();
    }
    return (double)iters * MEMCPY_CHUNK / 1e6 / ((double)(t - t0) / 1e9);
}

static void run_memcpy(void)
{
    unsigned char *src = mmap(NULL, MEMCPY_REGION, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (src == MAP_FAILED)
        die("mmap");
    unsigned char *dst = mmap(NULL, MEMCPY_CHUNK, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (dst == MAP_FAILED)
        die("mmap");
    /* Non-zero fill so every source page is really backed; untouched
     * anonymous pages would all map the shared zero page and live in cache. */
    memset(src, 0xa5, MEMCPY_REGION);
    memset(dst, 0, MEMCPY_CHUNK);

    print_result("c-memcpy", "W3", memcpy_rate(src, MEMCPY_REGION, dst),
                 "MB_per_s", "from-memory");
    print_result("c-memcpy", "W3", memcpy_rate(src, MEMCPY_CHUNK, dst),
                 "MB_per_s", "from-cache");

    if (munmap(src, MEMCPY_REGION) != 0 || munmap(dst, MEMCPY_CHUNK) != 0)
        die("munmap");
}

/* ---------- c-kill-eof FAIL: kill -9 of a peer to EOF on its socket ---------- */

/* The shape of a helper that dies: many threads and a sizeable touched heap, both of which the kernel tears down
 * before the peer's socket sees its end. */
#define KILL_THREADS 24
#define KILL_RUNS 10

static void *kill_idle_thread(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

struct kill_victim_args {
    int fd;
    size_t touched;
};

static void kill_victim(void *arg)
{
    const struct kill_victim_args *args = arg;
    int fd = args->fd;
    size_t touched = args->touched;
    unsigned char *heap = mmap(NULL, touched, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (heap == MAP_FAILED)
        die("mmap");
    memset(heap, 1, touched);
    for (int i = 1; i < KILL_THREADS; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, kill_idle_thread, NULL) != 0)
            fail("pthread_create");
    }
    unsigned char ready = 1;
    write_all(fd, &ready, 1);
    for (;;)
        pause();
}

/* Freeing the victim's touched pages comes before its descriptors are closed, so the heap's size is part of the
 * figure: measured with a small heap (the threads' teardown alone) and with a helper-sized one. */
static void run_kill_eof_touching(size_t touched)
{
    uint64_t times[KILL_RUNS];
    for (int run = 0; run < KILL_RUNS; run++) {
        int sv[2];
        make_socketpair(sv);
        struct kill_victim_args args = {sv[1], touched};
        pid_t pid = spawn(kill_victim, &args, sv[0]);
        if (close(sv[1]) != 0)
            die("close");
        unsigned char ready;
        if (read_all(sv[0], &ready, 1) != 1)
            fail("the kill-eof peer did not start");
        uint64_t start = now_ns();
        if (kill(pid, SIGKILL) != 0)
            die("kill");
        unsigned char byte;
        ssize_t got;
        while ((got = read(sv[0], &byte, 1)) < 0 && errno == EINTR)
            ;
        times[run] = now_ns() - start;
        if (got != 0)
            fail("the kill-eof peer wrote after it was killed");
        int status;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR)
                die("waitpid");
        if (close(sv[0]) != 0)
            die("close");
    }
    qsort(times, KILL_RUNS, sizeof times[0], cmp_u64);
    char note[160];
    snprintf(note, sizeof note, "%s,socketpair,%d-threads,%zuMiB-touched,kill-9-to-EOF,median-of-%d", NOTE_BASE, KILL_THREADS, touched >> 20, KILL_RUNS);
    print_result("c-kill-eof", "FAIL", (double)times[KILL_RUNS / 2] / 1000.0, "us", note);
}

static void run_kill_eof(void)
{
    run_kill_eof_touching(1u << 20);
    run_kill_eof_touching(150u << 20);
}

/* ---------- driver ---------- */

static void run_shm_spin(void) { run_shm(0); }
static void run_shm_futex(void) { run_shm(1); }

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
    {"uds-w1", run_uds_w1},       {"uds-w2", run_uds_w2},
    {"uds-w3", run_uds_w3},       {"shm-spin", run_shm_spin},
    {"shm-futex", run_shm_futex}, {"memcpy", run_memcpy},
    {"kill-eof", run_kill_eof},
};

#define NTESTS (sizeof tests / sizeof tests[0])

int main(int argc, char **argv)
{
    /* A dead peer should surface as EPIPE with a message, not a silent kill. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die("signal");

    if (argc == 1) {
        for (size_t t = 0; t < NTESTS; t++)
            tests[t].fn();
        return 0;
    }
    for (int a = 1; a < argc; a++) {
        size_t t;
        for (t = 0; t < NTESTS; t++)
            if (strcmp(argv[a], tests[t].name) == 0)
                break;
        if (t == NTESTS) {
            fprintf(stderr, "baseline: unknown test '%s'; known:", argv[a]);
            for (t = 0; t < NTESTS; t++)
                fprintf(stderr, " %s", tests[t].name);
            fputc('\n', stderr);
            return 2;
        }
        tests[t].fn();
    }
    return 0;
}
