// profiles.h: the built-in matrix profiles (harness/profiles/*.json),
// compiled into the binary by CMake (profiles.cpp.in) so the harness runs
// from any directory.
#pragma once

#include <span>

namespace cb::harness {

struct EmbeddedProfile {
  const char* name;       // "quick"
  const char* json_text;  // the file's contents
};

std::span<const EmbeddedProfile> embedded_profiles();

}  // namespace cb::harness
