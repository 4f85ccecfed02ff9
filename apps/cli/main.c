#include <stdio.h>
#include <string.h>

#include "vkdetr.h"

int main(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("vkdetr %s\n", vkdetr_version());
        return 0;
    }
    fprintf(stderr, "usage: vkdetr --version\n");
    return 2;
}
