/* One option table per command drives both parsing and --help (which prints every default,
 * read from the options struct before parsing, so help and behaviour cannot disagree). */
#ifndef VKDETR_CLI_OPTIONS_H
#define VKDETR_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

typedef enum cli_opt_type {
    CLI_FLAG,   /* int, set to 1 */
    CLI_INT,    /* int, within [min, max] */
    CLI_FLOAT,  /* float, within [min, max] */
    CLI_STRING, /* const char *, borrowed from argv */
    CLI_CHOICE, /* const char *, one of the '|'-separated words in `choices` */
    CLI_SIZE    /* int[2] {width, height}: "WxH" or "N" (square); 0 0 = the model's */
} cli_opt_type;

typedef struct cli_option {
    const char *name;      /* long name without "--" */
    char short_name;       /* 0 for none */
    cli_opt_type type;
    size_t offset;         /* of the field in the command's options struct */
    const char *metavar;   /* "FILE", "N"; NULL for flags */
    const char *help;
    const char *choices;   /* CLI_CHOICE: "auto|cpu|vulkan" */
    double min, max;       /* CLI_INT / CLI_FLOAT range (both 0: unchecked) */
    const char *default_text; /* shown instead of the field's value when the value alone
                                 would not say it (NULL: the value) */
} cli_option;

typedef struct cli_command {
    const char *name;      /* "detect" */
    const char *synopsis;  /* "[-m MODEL] [options] INPUT..." */
    const char *summary;   /* one line */
    const char *details;   /* paragraphs after the options (may be NULL) */
    const cli_option *options;
    int n_options;
    int min_args, max_args; /* positional arguments; max_args -1 = unbounded */
} cli_command;

/* Exit codes of every command. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_SOME_FAILED = 1, /* some inputs failed (reported); the others were processed */
    CLI_EXIT_USAGE = 2,       /* bad options or arguments */
    CLI_EXIT_MODEL = 3,       /* the model cannot be found, pulled or loaded; backend error */
    CLI_EXIT_OUTPUT = 4       /* an output file cannot be written */
};

/* Parses argv (argv[0] is the command name) into the struct at opts. Positional arguments go
 * to args (n_args set; args must hold argc entries). "--" ends options; "-" alone is
 * positional. Returns CLI_EXIT_OK, CLI_EXIT_USAGE after printing the problem and the usage
 * to stderr, or -1 after printing help to stdout (--help / -h). */
int cli_parse(const cli_command *cmd, int argc, char **argv, void *opts, const char **args,
              int *n_args);

/* Prints the full help of cmd, with defaults read from opts. */
void cli_print_help(const cli_command *cmd, const void *opts, FILE *f);

/* The program named in usage lines and messages, and the exit-code paragraph that ends every
 * help: "vkdetr" and cli_exit_codes_text, replaced by another program that uses these options
 * (vkdetr-cam). */
extern const char *cli_program;
extern const char *cli_exit_codes;

/* Prints the program and the command ("vkdetr detect"); the program alone when command is
 * NULL or "". */
void cli_print_program(FILE *f, const char *command);

/* Prints "usage: vkdetr NAME SYNOPSIS". */
void cli_print_usage(const cli_command *cmd, FILE *f);

/* Prints paragraphs ('\n'-separated) wrapped to 96 columns; lines starting with a space are
 * printed as they are. Ends with a newline. */
void cli_print_text(FILE *f, const char *text);

/* The exit-code paragraph every command's help ends with. */
extern const char cli_exit_codes_text[];

/* Parses "WxH" or "N"; returns 0 on success. */
int cli_parse_size(const char *s, int *w, int *h);

#endif
