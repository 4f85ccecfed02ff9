/* The public API. */
#include "vkdetr.h"

VKDETR_API const char *vkdetr_version(void) { return "0.1.0"; }
