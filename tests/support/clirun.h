/* Helpers for the CLI tests: run the vkdetr binary with arguments, environment and stdin and
 * capture its exit status and output; start and stop the local hub server
 * (tests/hub_server.py). */
#ifndef VD_CLIRUN_H
#define VD_CLIRUN_H

#include <stddef.h>

typedef struct vd_cli_result {
    int status;  /* exit code; 128 + signal when killed; -1 when it could not run */
    char *out;   /* stdout, NUL-terminated, malloc'ed */
    char *err;   /* stderr */
} vd_cli_result;

/* The binary under test: $VKDETR_CLI, else <build>/vkdetr. */
const char *vd_cli_binary(void);

/* Runs the binary with args (NULL-terminated, without argv[0]). env: NULL or NULL-terminated
 * "NAME=value" entries set for the child ("NAME=" with nothing after unsets). stdin_text: NULL
 * for an empty stdin. Kills the child after timeout_s seconds (status 128 + 9). */
vd_cli_result vd_cli_run(const char *const *args, const char *const *env, const char *stdin_text,
                         int timeout_s);

void vd_cli_result_free(vd_cli_result *r);

/* Prints the command's output to stderr when status differs from expected, and returns
 * status == expected. */
int vd_cli_expect(const vd_cli_result *r, int expected, const char *what);

typedef struct vd_hub_server {
    int pid;
    int port;
    char url[64]; /* "http://127.0.0.1:<port>" */
} vd_hub_server;

/* Starts python3 tests/hub_server.py --root root [--log log]. Returns 0, or -1 when python3 is
 * missing or the server did not start (the caller skips). */
int vd_hub_server_start(vd_hub_server *s, const char *root, const char *log);
void vd_hub_server_stop(vd_hub_server *s);

#endif
