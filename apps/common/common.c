/* placeholder: image writing, drawing and fonts land here */
#include "vkdetr.h"
