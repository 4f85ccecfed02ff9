#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char cli_exit_codes_text[] =
    "exit codes: 0 success; 1 some inputs failed (each is reported, the others are processed); "
    "2 usage error; 3 the model cannot be found, pulled or loaded, or the backend failed; "
    "4 an output file cannot be written.";

int cli_parse_size(const char *s, int *w, int *h) {
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10), b;
    if (errno || end == s || a <= 0 || a > 65536) return -1;
    if (*end == '\0') {
        b = a;
    } else if (*end == 'x' || *end == 'X') {
        const char *p = end + 1;
        b = strtol(p, &end, 10);
        if (errno || end == p || *end || b <= 0 || b > 65536) return -1;
    } else {
        return -1;
    }
    *w = (int)a;
    *h = (int)b;
    return 0;
}

const char *cli_program = "vkdetr";
const char *cli_exit_codes = cli_exit_codes_text;

void cli_print_program(FILE *f, const char *command) {
    fprintf(f, "%s%s%s", cli_program, command && command[0] ? " " : "", command ? command : "");
}

void cli_print_usage(const cli_command *cmd, FILE *f) {
    fputs("usage: ", f);
    cli_print_program(f, cmd->name);
    fprintf(f, " %s\n", cmd->synopsis);
}

/* Writes one line of text (no '\n') wrapped to `width` columns, continuation lines indented
 * by `indent`; `col` is the current column. */
static void print_wrapped_line(FILE *f, const char *p, const char *end, int col, int indent,
                               int width) {
    int first = 1;
    while (p < end) {
        while (p < end && *p == ' ') p++;
        const char *w = p;
        while (w < end && *w != ' ') w++;
        int len = (int)(w - p);
        if (len == 0) break;
        if (!first && col + 1 + len > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (!first) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, (size_t)len, f);
        col += len;
        first = 0;
        p = w;
    }
}

/* Writes paragraphs separated by '\n', each wrapped; lines that start with a space (examples)
 * are written as they are. */
static void print_wrapped(FILE *f, const char *text, int col, int indent, int width) {
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        if (*p == ' ')
            fwrite(p, 1, (size_t)(end - p), f);
        else
            print_wrapped_line(f, p, end, col, indent, width);
        if (!nl) break;
        fprintf(f, "\n%*s", indent, "");
        col = indent;
        p = nl + 1;
    }
}

void cli_print_text(FILE *f, const char *text) {
    print_wrapped(f, text, 0, 0, 96);
    fputc('\n', f);
}

static void format_default(const cli_option *o, const void *opts, char *buf, size_t size) {
    const char *base = opts;
    if (o->default_text) {
        snprintf(buf, size, "%s", o->default_text);
        return;
    }
    switch (o->type) {
    case CLI_FLAG: snprintf(buf, size, "%s", *(const int *)(base + o->offset) ? "on" : "off"); break;
    case CLI_INT: snprintf(buf, size, "%d", *(const int *)(base + o->offset)); break;
    case CLI_FLOAT: snprintf(buf, size, "%g", *(const float *)(base + o->offset)); break;
    case CLI_STRING:
    case CLI_CHOICE: {
        const char *s = *(const char *const *)(base + o->offset);
        snprintf(buf, size, "%s", s ? s : "none");
        break;
    }
    case CLI_SIZE: {
        const int *v = (const int *)(base + o->offset);
        if (v[0] == 0)
            snprintf(buf, size, "the model's");
        else
            snprintf(buf, size, "%dx%d", v[0], v[1]);
        break;
    }
    }
}

void cli_print_help(const cli_command *cmd, const void *opts, FILE *f) {
    enum { INDENT = 28, WIDTH = 96 };
    cli_print_usage(cmd, f);
    fputc('\n', f);
    cli_print_text(f, cmd->summary);
    fprintf(f, "\noptions:\n");
    for (int i = 0; i < cmd->n_options; i++) {
        const cli_option *o = &cmd->options[i];
        char head[96], def[160], text[1024];
        int n = snprintf(head, sizeof head, "  %s%c%s--%s%s%s", o->short_name ? "-" : "",
                         o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ",
                         o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        if (!o->short_name) {
            /* "  " + 4 spaces where "-x, " would be */
            n = snprintf(head, sizeof head, "      --%s%s%s", o->name, o->metavar ? " " : "",
                         o->metavar ? o->metavar : "");
        }
        fputs(head, f);
        int col = n;
        if (col >= INDENT - 1) {
            fprintf(f, "\n%*s", INDENT, "");
        } else {
            fprintf(f, "%*s", INDENT - col, "");
        }
        format_default(o, opts, def, sizeof def);
        if (o->type == CLI_CHOICE)
            snprintf(text, sizeof text, "%s (%s; default: %s)", o->help, o->choices, def);
        else if (o->type == CLI_FLAG && !o->default_text)
            snprintf(text, sizeof text, "%s", o->help);
        else
            snprintf(text, sizeof text, "%s (default: %s)", o->help, def);
        print_wrapped(f, text, INDENT, INDENT, WIDTH);
        fputc('\n', f);
    }
    fprintf(f, "  -h, --help                show this help\n");
    if (cmd->details) {
        fputc('\n', f);
        cli_print_text(f, cmd->details);
    }
    fputc('\n', f);
    cli_print_text(f, cli_exit_codes);
}

static int usage_error(const cli_command *cmd, const char *fmt, const char *a, const char *b) {
    cli_print_program(stderr, cmd->name);
    fputs(": ", stderr);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    cli_print_usage(cmd, stderr);
    fputs("Try '", stderr);
    cli_print_program(stderr, cmd->name);
    fputs(" --help' for the options.\n", stderr);
    return CLI_EXIT_USAGE;
}

static int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

static int set_value(const cli_command *cmd, const cli_option *o, const char *v, void *opts) {
    char *base = opts, *end;
    char shown[80];
    snprintf(shown, sizeof shown, "--%s", o->name);
    switch (o->type) {
    case CLI_FLAG: *(int *)(base + o->offset) = 1; return 0;
    case CLI_INT: {
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < -2147483647L || x > 2147483647L)
            return usage_error(cmd, "%s: not an integer: '%s'", shown, v);
        if ((o->min != 0 || o->max != 0) && (x < o->min || x > o->max)) {
            char range[64];
            snprintf(range, sizeof range, "%g..%g", o->min, o->max);
            return usage_error(cmd, "%s: must be within %s", shown, range);
        }
        *(int *)(base + o->offset) = (int)x;
        return 0;
    }
    case CLI_FLOAT: {
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x))
            return usage_error(cmd, "%s: not a number: '%s'", shown, v);
        if ((o->min != 0 || o->max != 0) && (x < o->min || x > o->max)) {
            char range[64];
            snprintf(range, sizeof range, "%g..%g", o->min, o->max);
            return usage_error(cmd, "%s: must be within %s", shown, range);
        }
        *(float *)(base + o->offset) = (float)x;
        return 0;
    }
    case CLI_STRING:
        if (!v[0]) return usage_error(cmd, "%s: empty value%s", shown, "");
        *(const char **)(base + o->offset) = v;
        return 0;
    case CLI_CHOICE:
        if (!choice_ok(o->choices, v)) {
            char msg[160];
            snprintf(msg, sizeof msg, "'%s' (one of %s)", v, o->choices);
            return usage_error(cmd, "%s: unknown value %s", shown, msg);
        }
        *(const char **)(base + o->offset) = v;
        return 0;
    case CLI_SIZE: {
        int *wh = (int *)(base + o->offset);
        if (cli_parse_size(v, &wh[0], &wh[1]))
            return usage_error(cmd, "%s: expected WxH or N, got '%s'", shown, v);
        return 0;
    }
    }
    return 0;
}

static const cli_option *find_long(const cli_command *cmd, const char *name, size_t n) {
    for (int i = 0; i < cmd->n_options; i++)
        if (strlen(cmd->options[i].name) == n && !strncmp(cmd->options[i].name, name, n))
            return &cmd->options[i];
    return NULL;
}

static const cli_option *find_short(const cli_command *cmd, char c) {
    for (int i = 0; i < cmd->n_options; i++)
        if (cmd->options[i].short_name == c) return &cmd->options[i];
    return NULL;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, void *opts, const char **args,
              int *n_args) {
    *n_args = 0;
    int only_args = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || !strcmp(a, "-")) {
            args[(*n_args)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_args = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_print_help(cmd, opts, stdout);
            return -1;
        }
        const cli_option *o;
        const char *value = NULL;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            o = find_long(cmd, a + 2, n);
            if (!o) return usage_error(cmd, "unknown option '%s'%s", a, "");
            if (eq) {
                if (o->type == CLI_FLAG)
                    return usage_error(cmd, "option '--%s' takes no value%s", o->name, "");
                value = eq + 1;
            }
        } else {
            o = find_short(cmd, a[1]);
            if (!o) return usage_error(cmd, "unknown option '%s'%s", a, "");
            if (a[2]) {
                if (o->type == CLI_FLAG) {
                    /* grouped flags: -rq */
                    for (const char *c = a + 1; *c; c++) {
                        const cli_option *g = find_short(cmd, *c);
                        char opt[3] = {'-', *c, 0};
                        if (!g) return usage_error(cmd, "unknown option '%s' in '%s'", opt, a);
                        if (g->type != CLI_FLAG)
                            return usage_error(cmd, "option '%s' needs a value (in '%s')", opt, a);
                        set_value(cmd, g, "", opts);
                    }
                    continue;
                }
                value = a + 2;
            }
        }
        if (o->type != CLI_FLAG && !value) {
            if (i + 1 >= argc) return usage_error(cmd, "option '%s' needs a value%s", a, "");
            value = argv[++i];
        }
        int rc = set_value(cmd, o, value ? value : "", opts);
        if (rc) return rc;
    }
    if (*n_args < cmd->min_args)
        return usage_error(cmd, "%s%s", *n_args == 0 ? "missing arguments" : "too few arguments", "");
    if (cmd->max_args >= 0 && *n_args > cmd->max_args)
        return usage_error(cmd, "too many arguments (from '%s' on)%s", args[cmd->max_args], "");
    return CLI_EXIT_OK;
}
