// The keyhold home directory: where the default KEK (keystore) and the
// default audit log live.
#pragma once

#include <string>

#include "core/status.h"

namespace keyhold::core {

// KeyholdHome: $KEYHOLD_HOME, else $HOME/.keyhold, else the account's home
// directory/.keyhold. KH_E_IO if none can be found. The variables are read
// with secure_getenv (ignored in a set-uid process).
Status KeyholdHome(std::string* out);

}  // namespace keyhold::core
