// ldns's headers without their macros for bool, true and false: they define
// them unless <stdbool.h> said the compiler has its own, and C++'s does.
#pragma once

#include <stdbool.h>  // NOLINT(modernize-deprecated-headers): sets __bool_true_false_are_defined

#include <ldns/ldns.h>
