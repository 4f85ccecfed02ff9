#include "clirun.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

const char *vd_cli_binary(void) {
    const char *e = getenv("VKDETR_CLI");
    return e && e[0] ? e : VD_BINARY_DIR "/vkdetr";
}

static char *read_fd_all(int fd) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return NULL;
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        ssize_t got = read(fd, buf + n, cap - n);
        if (got <= 0) break;
        n += (size_t)got;
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) break;
            buf = bigger;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    return buf;
}

static int temp_fd(void) {
    char name[] = "/tmp/vkdetr-cli-XXXXXX";
    int fd = mkstemp(name);
    if (fd >= 0) unlink(name);
    return fd;
}

static void child(const char *const *args, const char *const *env, int in, int out, int err) {
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (int i = 0; env && env[i]; i++) {
        char name[256];
        const char *eq = strchr(env[i], '=');
        if (!eq || (size_t)(eq - env[i]) >= sizeof name) continue;
        memcpy(name, env[i], (size_t)(eq - env[i]));
        name[eq - env[i]] = '\0';
        if (eq[1])
            setenv(name, eq + 1, 1);
        else
            unsetenv(name);
    }
    int n = 0;
    while (args && args[n]) n++;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    if (!argv) _exit(126);
    argv[0] = (char *)vd_cli_binary();
    for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
    execv(argv[0], argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

vd_cli_result vd_cli_run(const char *const *args, const char *const *env, const char *stdin_text,
                         int timeout_s) {
    vd_cli_result r = {-1, NULL, NULL};
    int in = temp_fd(), out = temp_fd(), err = temp_fd();
    if (in < 0 || out < 0 || err < 0) goto done;
    if (stdin_text && write(in, stdin_text, strlen(stdin_text)) < 0) goto done;
    lseek(in, 0, SEEK_SET);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) goto done;
    if (pid == 0) child(args, env, in, out, err);
    int status = 0;
    struct timespec start, now, nap = {0, 5 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) goto done;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        nanosleep(&nap, NULL);
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_fd_all(out);
    r.err = read_fd_all(err);
done:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    if (!r.out) r.out = calloc(1, 1);
    if (!r.err) r.err = calloc(1, 1);
    return r;
}

void vd_cli_result_free(vd_cli_result *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

int vd_cli_expect(const vd_cli_result *r, int expected, const char *what) {
    if (r->status == expected) return 1;
    fprintf(stderr, "FAIL %s: exit %d, expected %d\n--- stdout\n%s--- stderr\n%s---\n", what,
            r->status, expected, r->out ? r->out : "", r->err ? r->err : "");
    return 0;
}

int vd_hub_server_start(vd_hub_server *s, const char *root, const char *log) {
    memset(s, 0, sizeof *s);
    s->pid = -1;
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        const char *script = vd_test_path("tests/hub_server.py");
        if (log)
            execlp("python3", "python3", script, "--root", root, "--log", log, (char *)NULL);
        else
            execlp("python3", "python3", script, "--root", root, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    s->pid = pid;
    char line[64] = {0};
    size_t n = 0;
    /* the first line is "PORT <n>"; EOF means python3 is missing or failed */
    while (n + 1 < sizeof line) {
        ssize_t got = read(fds[0], line + n, 1);
        if (got <= 0 || line[n] == '\n') break;
        n++;
    }
    close(fds[0]);
    if (sscanf(line, "PORT %d", &s->port) != 1 || s->port <= 0) {
        vd_hub_server_stop(s);
        return -1;
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    return 0;
}

void vd_hub_server_stop(vd_hub_server *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = -1;
}
