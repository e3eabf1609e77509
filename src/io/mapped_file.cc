#include "io/mapped_file.h"
