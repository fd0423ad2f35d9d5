/* libuv twin of examples/wake_latency.rs: the time from the end of a
 * uv_queue_work job's work callback on its worker to the start of its
 * after-work callback on the loop thread, one job in flight at a time.
 *
 * Build: cc -O2 -o wake_latency bench/wake_latency.c -luv
 * Run:   UV_THREADPOOL_SIZE=4 ./wake_latency [N]
 * Prints: samples=N p50_us=.. p99_us=.. mean_us=..
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct {
  uv_work_t req;
  uint64_t ended;
  double *samples;
  size_t left, count;
} job_t;

static void work_cb(uv_work_t *req) {
  job_t *j = (job_t *)req;
  j->ended = now_ns();
}

static void after_cb(uv_work_t *req, int status) {
  uint64_t start = now_ns();
  job_t *j = (job_t *)req;
  if (status != 0) {
    fprintf(stderr, "work failed: %s\n", uv_strerror(status));
    exit(1);
  }
  if (j->samples)
    j->samples[j->count] = (double)(start - j->ended) / 1000.0;
  j->count++;
  if (--j->left > 0)
    uv_queue_work(req->loop, &j->req, work_cb, after_cb);
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void run(uv_loop_t *loop, job_t *j, size_t n, double *samples) {
  j->samples = samples;
  j->left = n;
  j->count = 0;
  uv_queue_work(loop, &j->req, work_cb, after_cb);
  uv_run(loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
  if (n == 0) {
    fprintf(stderr, "usage: wake_latency [N]   (N a positive integer)\n");
    return 2;
  }
  uv_loop_t *loop = uv_default_loop();
  job_t j;
  run(loop, &j, 1000, NULL); /* warm-up: starts the workers */
  double *s = malloc(n * sizeof *s);
  run(loop, &j, n, s);
  qsort(s, n, sizeof *s, cmp);
  double mean = 0;
  for (size_t i = 0; i < n; i++)
    mean += s[i];
  mean /= (double)n;
  printf("samples=%zu p50_us=%.2f p99_us=%.2f mean_us=%.2f\n", n,
         s[(size_t)((double)(n - 1) * 0.50 + 0.5)],
         s[(size_t)((double)(n - 1) * 0.99 + 0.5)], mean);
  free(s);
  return 0;
}
