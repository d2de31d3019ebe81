// status.cpp: formatting of SysError messages.
#include "common/status.h"

#include <cstring>

namespace cb {

SysError::SysError(const std::string& call, int err)
    : std::runtime_error(call + ": " + std::strerror(err)), error_(err) {}

}  // namespace cb
